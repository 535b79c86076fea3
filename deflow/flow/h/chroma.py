"""An h that treats luma and chroma apart: chroma_blur_noise.

The measured reason, on the camera benchmark (default camera and split; its three test photos, the camera's LR
against the bicubic LR of the same photos; 8-bit units, BT.601 Y / Cb / Cr): the camera's noise is mixed across
channels by the chen_phone colour matrix and its chroma averaged over 2x2 pixels by JPEG 4:2:0, so it is correlated
in chroma, and a 4x bicubic keeps more of it there. The residual is RMS 20.9 / 9.9 / 12.7 at the LR and
8.46 / 5.83 / 7.71 in bicubic_noise's conditioning: 40 % of the luma residual survives, 59 % and 61 % of the chroma.
With its masking noise bicubic_noise leaves an h_gap (deflow/bench/h_scores.py) of 7.04 (excess noise std
4.77 / 2.72 / 4.22); the other fixed h's leave 6.60 (additive_noise) to 23.84 (maxpool_noise). Blurring the
chroma (sigma 3 source pixels) under the same masking lowers it to 4.85 (4.78 / 1.02 / 1.89) while it changes the
clean domain's conditioning chroma by RMS 2.6 / 3.5 (Cb / Cr), less than the masking noise's 5.1.
"""
import cv2
import torch

from deflow.errors import UserError
from deflow.flow.h.denoise import filter_per_image
from deflow.flow.h.noise import bicubic_down
from deflow.registry import H_FUNCTIONS
from degradations.noise import chroma_noise, luma


@H_FUNCTIONS.register("chroma_blur_noise")
class ChromaBlurNoise:
    """Removes chroma detail finer than about chroma_sigma source pixels (where JPEG 4:2:0 and a colour matrix leave
    correlated noise that a bicubic downsampling keeps) and masks what differs with noise in luma and chroma apart,
    keeping the luma at full resolution: h(x) = bicubic_down(Y(x) + Gauss(x - Y(x), chroma_sigma), factor) +
    N(0, noise_std_luma^2) on luma + N(0, noise_std_chroma^2) on BT.601 Cb and Cr.

    x - Y(x), the image minus its BT.601 luma in every channel, depends on Cb and Cr alone and has zero luma, so
    blurring it blurs the chroma and leaves the luma exact. The default noise masks as bicubic_noise's white RGB
    noise of std 0.03 does (luma std 0.020, Cb / Cr 0.019 / 0.020), so the two differ in the chroma blur alone.

    Args:
        factor: downsampling factor (the network's scale).
        chroma_sigma: std of the chroma's Gaussian blur in source pixels, before the downsampling (3.0).
        noise_std_luma: std of perturb's luma noise in [0, 1] units, the same in R, G and B (0.02).
        noise_std_chroma: std of perturb's noise on Cb and on Cr in [0, 1] units (0.02).
    """

    def __init__(self, factor: int, chroma_sigma: float = 3.0, noise_std_luma: float = 0.02,
                 noise_std_chroma: float = 0.02):
        if chroma_sigma <= 0:
            raise UserError(f"network_g.h.chroma_sigma: must be positive, got {chroma_sigma!r}")
        self.factor, self.chroma_sigma = factor, chroma_sigma
        self.noise_std_luma, self.noise_std_chroma = noise_std_luma, noise_std_chroma

    def downsample(self, x: torch.Tensor) -> torch.Tensor:
        batch = x.reshape(-1, *x.shape[-3:])
        y = luma(batch)
        chroma = filter_per_image(lambda image: cv2.GaussianBlur(image, (0, 0), self.chroma_sigma), batch - y)
        return bicubic_down((y + chroma).reshape(x.shape), self.factor)

    def perturb(self, lr: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        b, _, h, w = lr.shape
        luma_noise = torch.randn((b, 1, h, w), generator=generator, dtype=lr.dtype, device=lr.device)
        return chroma_noise(lr + self.noise_std_luma * luma_noise, self.noise_std_chroma, generator=generator)
