"""The h's that remove what differs between the domains instead of masking it: an OpenCV filter on the
full-resolution image, then MATLAB's bicubic downsampling; perturb adds a little Gaussian noise.

The filter runs before the downsampling, where the degradations it targets live: at the source's pixel scale.
A median removes an impulse while it is one pixel; a bicubic by 4 first spreads it over several conditioning pixels
as a faint blob that no filter can tell from content. The Gaussian is linear, so its place only rescales its
sigma; it runs at full resolution too, so that every size is in the same (source) pixels.

Each image of x (..., C, H, W), float32 in [0, 1], goes to OpenCV as float32 HWC numpy and comes back to x's device
and dtype. The filters are per channel (Gaussian, median) or on the L1 colour distance (bilateral), so RGB needs
no reordering to OpenCV's BGR.

perturb's noise defaults to 0.01, a third of DeFlow's 0.03: the filter removed most of the gap, the noise masks what
it left (set noise_std 0 to condition on the filtered image alone).
"""
import cv2
import numpy as np
import torch

from deflow.errors import UserError
from deflow.flow.h.noise import bicubic_down
from deflow.registry import H_FUNCTIONS
from degradations.noise import gaussian_noise


def filter_per_image(filter_hwc, x: torch.Tensor) -> torch.Tensor:
    """`filter_hwc` (float32 HWC numpy -> same shape) on each image of x (..., C, H, W); x's shape, dtype, device."""
    images = x.detach().reshape(-1, *x.shape[-3:]).permute(0, 2, 3, 1).to("cpu", torch.float32).numpy()
    out = np.stack([filter_hwc(np.ascontiguousarray(img)).reshape(img.shape) for img in images])
    return torch.from_numpy(out).permute(0, 3, 1, 2).reshape(x.shape).to(x.device, x.dtype)


class FilterThenBicubic:
    """downsample(x) = bicubic_down(filter(x), factor); perturb(lr) = lr + N(0, noise_std^2)."""

    def __init__(self, factor: int, noise_std: float):
        self.factor = factor
        self.noise_std = noise_std

    def filter(self, image: np.ndarray) -> np.ndarray:
        """One float32 HWC image -> the same, filtered."""
        raise NotImplementedError

    def downsample(self, x: torch.Tensor) -> torch.Tensor:
        return bicubic_down(filter_per_image(self.filter, x), self.factor)

    def perturb(self, lr: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return gaussian_noise(lr, self.noise_std, generator=generator)


def _positive(key: str, value: float) -> None:
    if value <= 0:
        raise UserError(f"network_g.h.{key}: must be positive, got {value!r}")


@H_FUNCTIONS.register("gaussian_denoise")
class GaussianDenoise(FilterThenBicubic):
    """Removes fine noise and fine detail alike with a Gaussian blur, keeping the smooth image: h(x) =
    bicubic_down(GaussianBlur(x, sigma), factor) + N(0, noise_std^2).

    Args:
        factor: downsampling factor (the network's scale).
        sigma: std of the Gaussian in full-resolution pixels (1.5); OpenCV sizes the kernel (about 8 sigma + 1).
        noise_std: std of perturb's Gaussian noise in [0, 1] units (0.01).
    """

    def __init__(self, factor: int, sigma: float = 1.5, noise_std: float = 0.01):
        _positive("sigma", sigma)
        super().__init__(factor, noise_std)
        self.sigma = sigma

    def filter(self, image: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(image, (0, 0), self.sigma)


@H_FUNCTIONS.register("median_denoise")
class MedianDenoise(FilterThenBicubic):
    """Removes impulses (salt-and-pepper, hot pixels) and structure thinner than half the window, keeping edges:
    h(x) = bicubic_down(medianBlur(x, kernel_size), factor) + N(0, noise_std^2).

    Args:
        factor: downsampling factor (the network's scale).
        kernel_size: side of the median window, 3 or 5 (OpenCV's float median has no other sizes; 3).
        noise_std: std of perturb's Gaussian noise in [0, 1] units (0.01).
    """

    def __init__(self, factor: int, kernel_size: int = 3, noise_std: float = 0.01):
        if kernel_size not in (3, 5):
            raise UserError(f"network_g.h.kernel_size: must be 3 or 5, got {kernel_size!r}")
        super().__init__(factor, noise_std)
        self.kernel_size = kernel_size

    def filter(self, image: np.ndarray) -> np.ndarray:
        return cv2.medianBlur(image, self.kernel_size)


@H_FUNCTIONS.register("bilateral_denoise")
class BilateralDenoise(FilterThenBicubic):
    """Removes low-contrast noise and texture, keeping edges stronger than about sigma_color: h(x) =
    bicubic_down(bilateralFilter(x, sigma_color, sigma_space), factor) + N(0, noise_std^2).

    Args:
        factor: downsampling factor (the network's scale).
        sigma_color: range std in [0, 1] units, on the sum of the three channels' differences (0.1).
        sigma_space: spatial std in full-resolution pixels (2.0); OpenCV's window radius is round(1.5 sigma_space).
        noise_std: std of perturb's Gaussian noise in [0, 1] units (0.01).
    """

    def __init__(self, factor: int, sigma_color: float = 0.1, sigma_space: float = 2.0, noise_std: float = 0.01):
        _positive("sigma_color", sigma_color)
        _positive("sigma_space", sigma_space)
        super().__init__(factor, noise_std)
        self.sigma_color, self.sigma_space = sigma_color, sigma_space

    def filter(self, image: np.ndarray) -> np.ndarray:
        return cv2.bilateralFilter(image, 0, self.sigma_color, self.sigma_space)
