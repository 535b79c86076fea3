"""A no-reference noise estimate: how much noise an image carries, in 8-bit units."""
from pathlib import Path

import torch

from deflow.imageio import read_image

# MAD -> std of a Gaussian: the median of |N(0, 1)| is 0.6745.
MAD_TO_STD = 0.6745


def haar_diagonal(x: torch.Tensor) -> torch.Tensor:
    """The finest diagonal Haar wavelet sub-band of (C, H, W) -> (C, H // 2, W // 2), in x's units (odd last rows and
    columns dropped): (x00 - x01 - x10 + x11) / 2 per 2x2 block. Orthonormal, so white noise of std s keeps std s;
    content that is a sum of a function of the row and one of the column (constants, ramps) cancels."""
    x = x[:, : x.shape[1] // 2 * 2, : x.shape[2] // 2 * 2]
    return (x[:, 0::2, 0::2] - x[:, 0::2, 1::2] - x[:, 1::2, 0::2] + x[:, 1::2, 1::2]) / 2


def noise_std(img: torch.Tensor) -> float:
    """Noise std of a (3, H, W) image in [0, 1], in 8-bit units: the median absolute value of the finest diagonal
    Haar wavelet sub-band / 0.6745, averaged over channels (Donoho's estimator, as skimage's estimate_sigma, which
    uses Daubechies wavelets and needs PyWavelets). White Gaussian noise of std s gives s; image detail adds to it."""
    diagonal = haar_diagonal(img.double() * 255)
    return float((diagonal.abs().flatten(1).median(dim=1).values / MAD_TO_STD).mean())


def noise_sigma(paths: list[Path]) -> float:
    """Mean `noise_std` over image files, in 8-bit units."""
    return sum(noise_std(read_image(p)) for p in paths) / len(paths)
