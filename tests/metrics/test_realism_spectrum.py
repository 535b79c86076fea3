"""Residual power spectra (metrics/realism/spectrum.py): white noise against spatially correlated noise."""
import math

import pytest
import torch
import torch.nn.functional as F

from metrics.realism.spectrum import residual_spectrum, spectrum_distance

BINS = 16


def noise_images(sigma: float, seed: int, blur: float = 0.0, count: int = 3, size: int = 64) -> list[torch.Tensor]:
    """`count` flat grey (3, size, size) images in [0, 1] plus Gaussian noise of std `sigma` (8-bit units), after a
    Gaussian blur of std `blur` px (circular, then rescaled to std `sigma`) when blur > 0."""
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(count, 3, size, size, generator=generator, dtype=torch.float64)
    if blur > 0:
        x = torch.arange(-3, 4, dtype=torch.float64)
        g = torch.exp(-x ** 2 / (2 * blur ** 2))
        window = (g[:, None] * g[None, :] / g.sum() ** 2).expand(3, 1, 7, 7)
        noise = F.conv2d(F.pad(noise, (3, 3, 3, 3), mode="circular"), window, groups=3)
        noise = noise / noise.std()
    return list((0.5 + sigma / 255 * noise).float())


def high_to_mid(power: torch.Tensor) -> float:
    """Power in the top quarter of frequencies over that in the second quarter."""
    return float(power[3 * BINS // 4:].mean() / power[BINS // 4:BINS // 2].mean())


def test_white_noise_keeps_its_high_frequencies_and_correlated_noise_loses_them():
    frequency, white = residual_spectrum(noise_images(10, seed=0), BINS)
    _, correlated = residual_spectrum(noise_images(10, seed=1, blur=1.0), BINS)
    assert frequency[0] == pytest.approx(0.25 / BINS) and frequency[-1] == pytest.approx(0.5 - 0.25 / BINS)
    assert high_to_mid(white) > 2.0        # the 3x3 box high pass makes white noise rise towards 0.5 cycles/px
    assert high_to_mid(correlated) < 0.3


def test_distances_rank_same_noise_close_and_correlated_noise_far():
    white = residual_spectrum(noise_images(10, seed=0), BINS)
    white_again = residual_spectrum(noise_images(10, seed=2), BINS)
    correlated = residual_spectrum(noise_images(10, seed=1, blur=1.0), BINS)
    assert spectrum_distance(white, white_again) < 0.05
    assert spectrum_distance(white, correlated) > 0.5
    assert spectrum_distance(white, white) == 0.0


def test_power_is_in_8_bit_units_squared():
    low = residual_spectrum(noise_images(5, seed=0), BINS)
    high = residual_spectrum(noise_images(10, seed=3), BINS)
    assert spectrum_distance(low, high) == pytest.approx(math.log10(4), abs=0.05)


def test_images_of_different_sizes_mix_and_bins_must_agree():
    mixed = noise_images(10, seed=0, count=1, size=48) + noise_images(10, seed=1, count=1, size=80)
    _, power = residual_spectrum(mixed, BINS)
    assert torch.isfinite(power).all()
    with pytest.raises(ValueError, match="same `bins`"):
        spectrum_distance(residual_spectrum(mixed, 8), residual_spectrum(mixed, BINS))
