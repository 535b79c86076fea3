"""Domain-invariant functions h: what the flow is conditioned on (deflow.md sections 0 and 2.5).

API. `h.downsample(x)` makes the conditioning image from a full image; the datasets do this offline
(the LR folders), so the model receives the conditioning image already downsampled. `h.add_noise(lr,
generator)` then adds the noise; the model calls it once per image and reuses the result for both
the encode and the decode of a translation, so both see the same draw. `h(x, generator)` does both.
"""
import torch

from degradations.resize import imresize
from deflow.registry import H_FUNCTIONS


@H_FUNCTIONS.register("bicubic_noise")
class BicubicNoise:
    """h(x) = bicubic_down(x, factor) + N(0, noise_std^2), MATLAB-style bicubic with antialiasing.

    Args:
        factor: downsampling factor (8 for AIM, 4 for NTIRE and DPED).
        noise_std: std of the added noise in [0, 1] units (DeFlow's `LR_noise_std`, 0.03).
    """

    def __init__(self, factor: int = 8, noise_std: float = 0.03):
        self.factor = factor
        self.noise_std = noise_std

    def downsample(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, C, H / factor, W / factor)."""
        return imresize(x, scale=1 / self.factor)

    def add_noise(self, lr: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        noise = torch.randn(lr.shape, generator=generator, dtype=lr.dtype, device=lr.device)
        return lr + self.noise_std * noise

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.add_noise(self.downsample(x), generator)
