import pytest
import torch

from degradations.noise import (chroma_noise, correlated_noise, gaussian_noise, luma, poisson_gaussian_noise,
                                poisson_noise, speckle_noise)

FLAT = torch.full((4, 3, 128, 128), 0.5)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def per_image_std(noisy: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
    return (noisy - clean).std(dim=(1, 2, 3))


def test_gaussian_noise_has_the_requested_std_per_image():
    sigma = torch.tensor([0.01, 0.05, 0.1, 0.2])
    std = per_image_std(gaussian_noise(FLAT, sigma, generator=gen()), FLAT)
    assert torch.allclose(std, sigma, rtol=0.03)


def test_gray_gaussian_noise_is_shared_by_the_channels_and_has_the_requested_std():
    gray = torch.tensor([True, False, True, False])
    noisy = gaussian_noise(FLAT, 0.1, gray, generator=gen())
    assert torch.equal(noisy[0, 0], noisy[0, 2]) and not torch.equal(noisy[1, 0], noisy[1, 2])
    assert torch.allclose(per_image_std(noisy, FLAT), torch.full((4,), 0.1), rtol=0.03)


@pytest.mark.parametrize("gray", [False, True])
def test_poisson_noise_std_is_scale_times_sqrt_of_signal_over_levels(gray):
    scale, levels = torch.tensor([0.5, 1.0, 2.0, 3.0]), 200.0
    std = per_image_std(poisson_noise(FLAT, scale, gray, gen(), levels=levels), FLAT)
    assert torch.allclose(std, scale * (0.5 / levels) ** 0.5, rtol=0.03)


def test_poisson_noise_uses_realesrgan_levels_from_the_number_of_8bit_values():
    two_values = FLAT.clone()
    two_values[:, :, :64] = 0.25  # 2 distinct 8-bit values -> 2 levels; the flat half keeps std sqrt(0.5 / 2)
    noisy = poisson_noise(two_values, 1.0, generator=gen())
    assert (noisy - two_values)[:, :, 64:].std().item() == pytest.approx((0.5 / 2) ** 0.5, rel=0.03)


def test_poisson_gaussian_noise_variance_is_signal_times_shot_plus_read():
    x = torch.full((2, 3, 128, 128), 0.3)
    shot, read = torch.tensor([1e-3, 1e-2]), torch.tensor([1e-5, 4e-4])
    var = (poisson_gaussian_noise(x, shot, read, gen()) - x).var(dim=(1, 2, 3))
    assert torch.allclose(var, 0.3 * shot + read, rtol=0.06)


def test_speckle_noise_std_is_proportional_to_the_signal():
    x = torch.full((2, 3, 128, 128), 0.2)
    x[1] = 0.8
    std = per_image_std(speckle_noise(x, 0.1, gen()), x)
    assert torch.allclose(std, torch.tensor([0.02, 0.08]), rtol=0.03)


def test_chroma_noise_leaves_luma_unchanged():
    noisy = chroma_noise(FLAT, 0.05, gen())
    assert (luma(noisy) - luma(FLAT)).abs().max() < 1e-5
    assert (noisy - FLAT).std() > 0.03


def test_correlated_noise_channels_are_correlated_and_bounded_by_sigma():
    noisy = correlated_noise(FLAT, 0.1, gen())
    n = (noisy - FLAT)[0].reshape(3, -1)
    assert torch.corrcoef(n).triu(1).abs().max() > 0.05
    assert n.var(dim=1).sum() <= 3 * 0.1 ** 2 * 1.03
