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


def test_detail_transfer_is_a_blurs_frequency_response_and_ignores_independent_noise():
    """Clean: skimage crops; degraded: a circular Gaussian blur (std 0.6 px, made by multiplying the FFT by
    H(f) = exp(-2 pi^2 s^2 f^2)), with and without independent noise of std 10. Per ring the transfer is H averaged
    with the clean images' power as weights (computed here with numpy from the closed-form H): exact without noise,
    within 0.03 with it; amplified detail (1.5 x the clean image around its mean) reads 1.5."""
    import numpy as np
    from skimage import data

    from metrics.realism.spectrum import detail_transfer

    bins, sigma, size = 10, 0.6, 128
    clean = [torch.from_numpy(np.ascontiguousarray(photo[:size, :size].transpose(2, 0, 1))).double() / 255
             for photo in (data.astronaut(), data.chelsea(), data.coffee())]
    fy, fx = np.fft.fftfreq(size)[:, None], np.fft.fftfreq(size)[None, :]
    radius = np.sqrt(fy ** 2 + fx ** 2)
    response = np.exp(-2 * np.pi ** 2 * sigma ** 2 * radius ** 2)
    blurred = [torch.from_numpy(np.fft.ifft2(np.fft.fft2(c.numpy()) * response).real) for c in clean]
    generator = torch.Generator().manual_seed(0)
    noisy = [b + 10 / 255 * torch.randn(b.shape, generator=generator, dtype=torch.float64) for b in blurred]

    ring = np.minimum(np.floor(radius / 0.5 * bins).astype(int), bins - 1)  # 0.5 itself in the last ring
    ring[(radius == 0) | (radius > 0.5)] = -1
    power = sum((np.abs(np.fft.fft2(c.numpy() - c.numpy().mean((1, 2), keepdims=True))) ** 2).mean(0) for c in clean)
    expected = np.array([(response * power)[ring == k].sum() / power[ring == k].sum() for k in range(bins)])

    frequency, exact = detail_transfer(blurred, clean, bins)
    assert tuple(frequency.shape) == (bins,) and np.allclose(exact.numpy(), expected, atol=1e-9)
    assert np.allclose(detail_transfer(noisy, clean, bins)[1].numpy(), expected, atol=0.03)
    amplified = [1.5 * c - 0.5 * c.mean((1, 2), keepdim=True) for c in clean]
    assert torch.allclose(detail_transfer(amplified, clean, bins)[1], torch.full((bins,), 1.5, dtype=torch.float64))
    with pytest.raises(ValueError, match="pairs of one size"):
        detail_transfer([clean[0][:, :64]], [clean[0]], bins)
