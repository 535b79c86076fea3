"""The no-reference noise estimate: it reads the std of white Gaussian noise and barely sees smooth content."""
import pytest
import torch

from deflow.imageio import write_image
from metrics.noise import noise_sigma, noise_std


def smooth_image() -> torch.Tensor:
    """(3, 128, 128): gradients and a low-frequency wave, values well inside [0, 1]."""
    y, x = torch.meshgrid(torch.linspace(0, 1, 128), torch.linspace(0, 1, 128), indexing="ij")
    return torch.stack([0.3 + 0.4 * x, 0.3 + 0.4 * y, 0.5 + 0.2 * torch.sin(6 * x + 3 * y)]).double()


@pytest.mark.parametrize("sigma", [2.0, 8.0, 20.0])
def test_noise_std_reads_the_std_of_added_white_noise_in_8_bit_units(sigma):
    clean = smooth_image()
    noise = torch.randn(clean.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert noise_std(clean) < 0.1
    assert noise_std(clean + sigma / 255 * noise) == pytest.approx(sigma, rel=0.05)


def test_noise_sigma_is_the_mean_over_image_files(tmp_path):
    generator = torch.Generator().manual_seed(1)
    images = [(smooth_image() + s / 255 * torch.randn(3, 128, 128, generator=generator, dtype=torch.float64))
              .clamp(0, 1).float() for s in (4.0, 12.0)]
    for i, img in enumerate(images):
        write_image(tmp_path / f"{i}.png", img, bits=16)
    assert noise_sigma(sorted(tmp_path.glob("*.png"))) == pytest.approx(8.0, rel=0.1)  # the mean of 4 and 12
