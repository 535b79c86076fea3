"""basicsr_y (and plain rgb) equal a float64 NumPy implementation of the published definitions.

Reference written here from the definitions, not from deflow's code: Y = 16 + (65.481 R + 128.553 G +
24.966 B) / 255 on 0-255 values, not rounded; PSNR 10 log10(255^2 / MSE); SSIM (Wang et al. 2004) with an
11x11 Gaussian window, sigma 1.5, evaluated only where the window fits ("valid"), C1 = (0.01 * 255)^2,
C2 = (0.03 * 255)^2, population statistics; colour images average the per-channel SSIM.
"""
import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from metrics import score
from tests.metrics.photos import photo_pair, to_tensor

TOL = 1e-6


def luma(img: np.ndarray) -> np.ndarray:
    rgb = img.astype(np.float64)
    return 16.0 + (65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]) / 255.0


def psnr_ref(a: np.ndarray, b: np.ndarray) -> float:
    return 10.0 * np.log10(255.0 ** 2 / np.mean((a - b) ** 2))


def ssim_ref(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of two 2-D float64 arrays with the full (non-separated) 2-D Gaussian window."""
    offsets = np.arange(11) - 5.0
    yy, xx = np.meshgrid(offsets, offsets, indexing="ij")
    window = np.exp(-(xx ** 2 + yy ** 2) / (2 * 1.5 ** 2))
    window /= window.sum()

    def local_mean(img):
        return np.einsum("ijkl,kl->ij", sliding_window_view(img, (11, 11)), window)

    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mu_a, mu_b = local_mean(a), local_mean(b)
    var_a = local_mean(a * a) - mu_a ** 2
    var_b = local_mean(b * b) - mu_b ** 2
    cov = local_mean(a * b) - mu_a * mu_b
    ssim_map = (2 * mu_a * mu_b + c1) * (2 * cov + c2) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return float(ssim_map.mean())


def crop(img: np.ndarray, border: int) -> np.ndarray:
    return img[border:img.shape[0] - border, border:img.shape[1] - border]


@pytest.mark.parametrize("name,height,width,border", [
    ("astronaut", 96, 96, 4), ("coffee", 73, 119, 2), ("chelsea", 120, 65, 3), ("rocket", 21, 30, 4),
])
def test_basicsr_y_equals_the_published_definition(name, height, width, border):
    gt, pred = photo_pair(name, height, width, noise=30)
    result = score(to_tensor(pred), to_tensor(gt), "basicsr_y", crop_border=border)
    y_gt, y_pred = luma(crop(gt, border)), luma(crop(pred, border))
    assert abs(result["psnr"].item() - psnr_ref(y_pred, y_gt)) < TOL
    assert abs(result["ssim"].item() - ssim_ref(y_pred, y_gt)) < TOL


def test_rgb_preset_averages_the_gaussian_ssim_over_channels():
    gt, pred = photo_pair("coffee", 80, 90, noise=15)
    result = score(to_tensor(pred), to_tensor(gt), "rgb", crop_border=2)
    a, b = crop(pred, 2).astype(np.float64), crop(gt, 2).astype(np.float64)
    assert abs(result["psnr"].item() - psnr_ref(a, b)) < TOL
    assert abs(result["ssim"].item() - np.mean([ssim_ref(a[..., c], b[..., c]) for c in range(3)])) < TOL


def test_y_psnr_is_higher_than_rgb_psnr_on_channel_independent_noise():
    gt, pred = photo_pair("chelsea", 64, 64)
    y = score(to_tensor(pred), to_tensor(gt), "basicsr_y", crop_border=0)
    rgb = score(to_tensor(pred), to_tensor(gt), "rgb", crop_border=0)
    assert y["psnr"].item() > rgb["psnr"].item() + 3  # luma averages the channels' noise: why presets are named
