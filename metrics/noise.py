"""A no-reference noise estimate: how much noise an image carries, in 8-bit units."""
from pathlib import Path

import torch

from deflow.imageio import read_image

# MAD -> std of a Gaussian: the median of |N(0, 1)| is 0.6745.
MAD_TO_STD = 0.6745


def noise_std(img: torch.Tensor) -> float:
    """Noise std of a (3, H, W) image in [0, 1], in 8-bit units: the median absolute value of the finest diagonal
    Haar wavelet sub-band / 0.6745, averaged over channels (Donoho's estimator, as skimage's estimate_sigma, which
    uses Daubechies wavelets and needs PyWavelets). White Gaussian noise of std s gives s; image detail adds to it."""
    x = img.double() * 255
    x = x[:, : x.shape[1] // 2 * 2, : x.shape[2] // 2 * 2]
    diagonal = (x[:, 0::2, 0::2] - x[:, 0::2, 1::2] - x[:, 1::2, 0::2] + x[:, 1::2, 1::2]) / 2
    return float((diagonal.abs().flatten(1).median(dim=1).values / MAD_TO_STD).mean())


def noise_sigma(paths: list[Path]) -> float:
    """Mean `noise_std` over image files, in 8-bit units."""
    return sum(noise_std(read_image(p)) for p in paths) / len(paths)
