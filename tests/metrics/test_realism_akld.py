"""AKLD (metrics/realism/akld.py) against OpenCV's window and the calibration of issue 11 on a flat 8-bit image."""
import cv2
import numpy as np
import pytest
import torch

from metrics.realism.akld import akld, akld_image, gaussian_window, local_variance

SIZE = 256
REAL_SIGMA = 20.0  # 8-bit units


def flat_noisy(sigma: float, seed: int, samples: int | None = None) -> torch.Tensor:
    """A constant-128 8-bit image plus Gaussian noise of `sigma` (8-bit units), rounded to 8 bit and clipped, in
    [0, 1]: (3, 256, 256), or (samples, 3, 256, 256)."""
    shape = (3, SIZE, SIZE) if samples is None else (samples, 3, SIZE, SIZE)
    noise = sigma * torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return ((128 + noise).round().clamp(0, 255) / 255).float()


CLEAN = torch.full((3, SIZE, SIZE), 128 / 255)


def test_window_is_opencv_get_gaussian_kernel_7():
    kernel = cv2.getGaussianKernel(7, -1)
    np.testing.assert_allclose(gaussian_window().numpy(), kernel @ kernel.T, rtol=0, atol=1e-15)
    assert float(gaussian_window().sum()) == pytest.approx(1.0, abs=1e-12)


def test_local_variance_of_a_constant_error_is_its_square_and_floored():
    clean = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(local_variance(clean + 0.1, clean), torch.full((3, 16, 16), 0.01), rtol=1e-5)
    assert float(local_variance(clean, clean).min()) == pytest.approx(1e-10)


def test_calibration_on_a_flat_image_with_real_sigma_20():
    real = flat_noisy(REAL_SIGMA, seed=1)
    same = akld([flat_noisy(REAL_SIGMA, seed=2)], [real], [CLEAN])
    half = akld([flat_noisy(10.0, seed=3)], [real], [CLEAN])
    assert same == pytest.approx(0.045, abs=0.01)  # the window's floor: two draws of the same noise
    assert half == pytest.approx(0.33, abs=0.03)


def test_akld_grows_as_the_fake_sigma_moves_away_from_the_real_one():
    real = flat_noisy(REAL_SIGMA, seed=1)
    scores = {s: akld([flat_noisy(s, seed=10 + s)], [real], [CLEAN]) for s in (5, 10, 15, 20, 25, 30, 40)}
    below, above = [scores[s] for s in (20, 15, 10, 5)], [scores[s] for s in (20, 25, 30, 40)]
    assert below == sorted(below) and above == sorted(above), scores


def test_several_samples_per_image_average_their_scores():
    real = flat_noisy(REAL_SIGMA, seed=1)
    samples = flat_noisy(15.0, seed=4, samples=2)
    expected = (akld_image(samples[0], real, CLEAN) + akld_image(samples[1], real, CLEAN)) / 2
    assert akld([samples], [real], [CLEAN]) == pytest.approx(expected, rel=1e-12)
    assert akld([real], [real], [CLEAN]) == 0.0


def test_mismatched_sizes_and_counts_are_errors():
    with pytest.raises(ValueError, match="same image size"):
        akld_image(CLEAN[:, :64], CLEAN, CLEAN)
    with pytest.raises(ValueError, match="as many"):
        akld([CLEAN], [CLEAN, CLEAN], [CLEAN])
