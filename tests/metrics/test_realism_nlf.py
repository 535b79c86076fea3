"""The unpaired noise-level-function estimator: it recovers a planted Poisson-Gaussian curve from smooth scenes and a
photo, tells two noise draws of one curve apart from another curve, and handles bins without samples."""
import pytest
import torch
import torch.nn.functional as F

from deflow.tools.sample_photos import photo
from metrics.realism.nlf import (NoiseLevelFunction, estimate_nlf, fit_variance_line, flat_patch_threshold,
                                 nlf_distance, patch_statistics)

# The planted curve in [0, 1]^2 units: std from 2.6 (x = 0) to 7.5 (x = 0.9) 8-bit levels.
A, B = 0.0008, 0.00004
LO, HI = 0.05, 0.9  # content range: the noise is rarely clipped


def smooth_scene(seed: int, size: int = 320, tiles: int = 8) -> torch.Tensor:
    """(3, size, size) in [LO, HI]: tiles of random levels per channel, edges softened by a Gaussian blur (std 3 px),
    plus a gentle low-frequency wave."""
    generator = torch.Generator().manual_seed(seed)
    levels = LO + (HI - LO) * torch.rand(3, tiles, tiles, generator=generator, dtype=torch.float64)
    img = F.interpolate(levels[None], size=(size, size), mode="nearest")[0]
    y, x = torch.meshgrid(*(torch.linspace(-1, 1, size, dtype=torch.float64),) * 2, indexing="ij")
    img = (img + 0.03 * torch.sin(2 * x + 1.5 * y))[:, None]
    kernel = torch.exp(-torch.arange(-8, 9, dtype=torch.float64) ** 2 / 18)
    kernel = kernel / kernel.sum()
    img = F.conv2d(F.pad(img, (8, 8, 0, 0), mode="replicate"), kernel.view(1, 1, 1, -1))
    img = F.conv2d(F.pad(img, (0, 0, 8, 8), mode="replicate"), kernel.view(1, 1, -1, 1))
    return img[:, 0].clamp(LO, HI)


def with_noise(clean: list[torch.Tensor], a: float, b: float, seed: int) -> list[torch.Tensor]:
    """Each image plus Gaussian noise of variance a x + b ([0, 1]^2 units, the Gaussian approximation of
    Poisson-Gaussian noise), clipped to [0, 1]."""
    generator = torch.Generator().manual_seed(seed)
    return [(img + (a * img + b).sqrt() * torch.randn(img.shape, generator=generator, dtype=torch.float64))
            .clamp(0, 1) for img in clean]


@pytest.fixture(scope="module")
def clean() -> list[torch.Tensor]:
    """Eight smooth scenes and a real photo (astronaut, halved: real texture and edges, its own noise halved),
    mapped into [LO, HI]."""
    astronaut = F.avg_pool2d(photo("astronaut").double()[None], 2)[0]
    return [smooth_scene(seed) for seed in range(8)] + [LO + (HI - LO) * astronaut]


@pytest.fixture(scope="module")
def planted(clean) -> list[NoiseLevelFunction]:
    """Two noise draws of the planted curve."""
    return [estimate_nlf(with_noise(clean, A, B, seed)) for seed in (0, 1)]


def test_the_estimator_recovers_a_planted_poisson_gaussian_curve(planted):
    fitted = fit_variance_line(planted[0]) / 255 ** 2  # (3, 2) in [0, 1]^2 units
    assert fitted[:, 0] == pytest.approx([A] * 3, rel=0.15)
    assert fitted[:, 1] == pytest.approx([B] * 3, rel=0.15)
    valid = planted[0].std.isfinite()
    assert valid[:, 1:14].all()  # content covers [0.05, 0.9]
    truth = (A * planted[0].mean_intensity[valid] + B).sqrt() * 255
    assert planted[0].std[valid] == pytest.approx(truth, rel=0.1)


def test_nlf_distance_is_small_between_draws_of_one_curve_and_large_to_another(clean, planted):
    same = nlf_distance(*planted)
    other = nlf_distance(planted[0], estimate_nlf(with_noise(clean, 2 * A, 4 * B, 2)))
    assert same < 0.3  # 8-bit levels, on stds of 2.6 to 7.5
    assert other > 2.0 and other > 10 * same


def test_flat_white_noise_patches_pass_the_weak_texture_test():
    """Liu et al.'s threshold (confidence 1 - 1e-6) rejects almost no patch of pure white noise."""
    noise = 0.5 + 5 / 255 * torch.randn(3, 512, 512, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    _, texture, _, unclipped = patch_statistics(noise)
    assert unclipped.all()
    assert (texture > flat_patch_threshold() * 25).double().mean() < 1e-3


def test_bins_without_samples_are_nan_and_left_out(planted):
    flat = with_noise([torch.full((3, 128, 128), 0.3, dtype=torch.float64)], A, B, 3)
    nlf = estimate_nlf(flat)
    assert nlf.std.isfinite().sum(dim=1).tolist() == [1, 1, 1]  # the bin [0.25, 0.3125)
    assert nlf.std[:, 4].isfinite().all() and (nlf.count[:, :4] == 0).all()
    line = fit_variance_line(nlf)  # one bin: a constant variance
    assert line[:, 0].tolist() == [0, 0, 0] and line[:, 1] == pytest.approx(nlf.std[:, 4] ** 2)
    expected = (nlf.std[:, 4] - planted[0].std[:, 4]).square().mean().sqrt()
    assert nlf_distance(nlf, planted[0]) == pytest.approx(float(expected))

    saturated = estimate_nlf([torch.ones(3, 64, 64)])  # clipped everywhere: no noise estimate at all
    assert saturated.std.isnan().all() and fit_variance_line(saturated).isnan().all()
    assert nlf_distance(saturated, planted[0]) != nlf_distance(saturated, planted[0])  # NaN
    with pytest.raises(ValueError, match="different bins"):
        nlf_distance(estimate_nlf(flat, bins=8), planted[0])
