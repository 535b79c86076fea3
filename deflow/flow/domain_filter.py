"""A degraded-domain filter: the linear part of a camera (blur, the detail an ISP flattens) that a latent shift
cannot express.

DeFlow's degraded images are decoded from clean-like latents plus an independent shift, so their density can only
add variance to the clean one's; a camera that blurs keeps *less* detail (the camera benchmark measures the share
of the clean images' detail its LR keeps per frequency: 0.93 at 0.025 cycles/px down to 0.73 at 0.4; DeFlow's
translations keep 1.0 to 1.2). Here a degraded image is y = K x', x' what the shared flow models, and K per channel
keeps the image mean and multiplies every other frequency f (cycles/px) of the circular spectrum by

    H(f) = g exp(-2 pi^2 s^2 |f|^2)

a Gaussian blur of std s px and a detail gain g. K is invertible (H > 0) and diagonal in the Fourier basis, so
log |det K| = sum over channels and non-zero frequencies of log H(f) = (N - 1) log g - 2 pi^2 s^2 sum |f|^2 exactly,
N = H W; the degraded density is p(y) = p_flow(K^-1 y) / |det K|. s (its sign is immaterial) and q = log g per
channel are the parameters, so Adam's steps of about lr move the blur in pixels: a camera's 0.3 px is within a
1,500-iteration run's reach. They start at s = 0.05 px and g = 1: training starts as DeFlow. Translation applies K
after decoding.
"""
import math

import torch
from torch import nn


class DomainFilter(nn.Module):
    """K per channel of (B, C, H, W) images; `filter` applies K, `unfilter` K^-1, `log_det` log |det K| per image."""

    def __init__(self, channels: int = 3, sigma_init: float = 0.05):
        super().__init__()
        self.blur_sigma = nn.Parameter(torch.full((channels,), sigma_init))
        self.log_gain = nn.Parameter(torch.zeros(channels))

    def sigma(self) -> torch.Tensor:
        return self.blur_sigma.abs()

    def gain(self) -> torch.Tensor:
        return self.log_gain.exp()

    def _log_response(self, height: int, width: int) -> torch.Tensor:
        """(C, H, W) float64 log H(f) on the FFT grid; 0 at f = 0 (the mean is kept)."""
        fy = torch.fft.fftfreq(height, dtype=torch.float64, device=self.log_gain.device)
        fx = torch.fft.fftfreq(width, dtype=torch.float64, device=self.log_gain.device)
        radius2 = fy[:, None] ** 2 + fx[None, :] ** 2
        variance = self.blur_sigma.double().square().view(-1, 1, 1)
        log_h = self.log_gain.double().view(-1, 1, 1) - 2 * math.pi ** 2 * variance * radius2
        return torch.where(radius2 == 0, torch.zeros_like(log_h), log_h)

    def _multiply(self, x: torch.Tensor, sign: float) -> torch.Tensor:
        log_h = self._log_response(*x.shape[-2:])
        spectrum = torch.fft.fft2(x.double()) * torch.exp(sign * log_h)
        return torch.fft.ifft2(spectrum).real.to(x.dtype)

    def filter(self, x: torch.Tensor) -> torch.Tensor:
        """y = K x."""
        return self._multiply(x, 1.0)

    def unfilter(self, y: torch.Tensor) -> torch.Tensor:
        """x = K^-1 y."""
        return self._multiply(y, -1.0)

    def log_det(self, height: int, width: int) -> torch.Tensor:
        """log |det K| of one (C, height, width) image, a float64 scalar."""
        return self._log_response(height, width).sum()
