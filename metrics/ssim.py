"""Structural similarity (Wang et al. 2004) per image, batched, in float64, "valid" filtering.

SSIM is computed per channel on windows that lie fully inside the image (no padding) and averaged over
the window positions, then over channels. Two windows cover the conventions in use:
  - "gaussian": 11x11, sigma 1.5, population covariance (Wang et al., BasicSR, MATLAB ssim.m without its
    downsampling step);
  - "uniform": 7x7 box, sample covariance N/(N-1) (scikit-image's structural_similarity defaults, whose
    reflect padding only touches the border it then crops, so "valid" gives the same mean).
Filtering is separable and vectorised over the batch and channels; the planes are processed in bands of
rows that overlap by win_size - 1, which bounds memory and keeps the CPU cache warm. Everything runs in
float64 except the box sums of 8-bit images, which float32 computes exactly (see `ssim_255`).
"""
import math

import torch

from deflow.errors import UserError
from metrics.prepare import one_cpu_thread, prepare

WINDOWS = ("gaussian", "uniform")
K1, K2 = 0.01, 0.03
# Pixels per band of rows: on the CPU small enough for its cache and for the allocator to reuse buffers
# (fresh large ones page-fault, which dominated the run time); on a GPU, large enough to fill it.
_BAND_ELEMENTS, _BAND_ELEMENTS_GPU = 1 << 16, 1 << 24


def gaussian_taps(size: int, sigma: float) -> list[float]:
    """Normalised 1-D Gaussian of odd `size`, centred; its outer product is the 2-D window."""
    half = (size - 1) / 2
    taps = [math.exp(-((i - half) ** 2) / (2 * sigma ** 2)) for i in range(size)]
    total = sum(taps)
    return [t / total for t in taps]


def _box_valid(x: torch.Tensor, size: int) -> torch.Tensor:
    """Sum over every size x size window fully inside (..., H, W) -> (..., H-size+1, W-size+1)."""
    return x.unfold(-2, size, 1).sum(-1).unfold(-1, size, 1).sum(-1)


def _separable_valid(x: torch.Tensor, taps: list[float]) -> torch.Tensor:
    """Correlate (..., H, W) with the outer product of `taps`, keeping only fully covered positions."""
    k = len(taps)
    h, w = x.shape[-2] - k + 1, x.shape[-1] - k + 1
    cols = x[..., 0:h, :] * taps[0]
    for i in range(1, k):
        cols.add_(x[..., i:i + h, :], alpha=taps[i])
    out = cols[..., 0:w] * taps[0]
    for i in range(1, k):
        out.add_(cols[..., i:i + w], alpha=taps[i])
    return out


def _window_moments(x: torch.Tensor, y: torch.Tensor, window: str, win_size: int,
                    sigma: float | None) -> tuple[list[torch.Tensor], float]:
    """Window-weighted totals of x, y, x^2 + y^2 and xy (float64), and the window's total weight.

    Only var_x + var_y enters SSIM, so these four maps suffice. The box window sums with weight 1 each;
    the Gaussian one averages (total weight 1).
    """
    if window == "gaussian":
        taps = gaussian_taps(win_size, sigma)
        return [_separable_valid(t, taps) for t in (x, y, (x * x).addcmul_(y, y), x * y)], 1.0
    return [_box_valid(t, win_size).double() for t in (x, y, (x * x).addcmul_(y, y), x * y)], float(win_size ** 2)


def _ssim_sums(x: torch.Tensor, y: torch.Tensor, window: str, win_size: int, sigma: float | None,
               cov_norm: float, c1: float, c2: float) -> torch.Tensor:
    """Sum of the SSIM map of each (H, W) plane in (P, H, W) pairs -> (P,) float64.

    With window totals S (weight n) the usual terms are, multiplied through by n^2:
    2 mu_x mu_y + C1 -> 2 Sx Sy + C1 n^2, and 2 cov_xy + C2 -> 2 cov_norm (n Sxy - Sx Sy) + C2 n^2
    (likewise for the denominators), which needs no division until the final ratio.
    """
    (sx, sy, sq, sxy), n = _window_moments(x, y, window, win_size, sigma)
    k1, k2 = c1 * n * n, c2 * n * n
    prod = sx * sy
    sum_sq = sx.square_().addcmul_(sy, sy)
    cov_term = sxy.mul_(2 * cov_norm * n).sub_(prod, alpha=2 * cov_norm).add_(k2)
    var_term = sq.mul_(cov_norm * n).sub_(sum_sq, alpha=cov_norm).add_(k2)
    num = prod.mul_(2).add_(k1).mul_(cov_term)  # in place: these temporaries are the bulk of the cost
    den = sum_sq.add_(k1).mul_(var_term)
    return num.div_(den).sum(dim=(-2, -1))


def ssim_255(x: torch.Tensor, y: torch.Tensor, window: str = "gaussian", win_size: int = 11,
             sigma: float | None = 1.5, sample_covariance: bool = False, data_range: float = 255.0,
             integer_inputs: bool = False) -> torch.Tensor:
    """SSIM of prepared (N, C, H, W) arrays (0-255 scale, as `prepare` gives) -> (N,) float64, the channel mean.

    C1 = (0.01 R)^2, C2 = (0.03 R)^2 with R = data_range. `integer_inputs` promises integers in
    [0, data_range] (8-bit RGB), which lets the uniform window sum in float32 without rounding.
    """
    if window not in WINDOWS:
        raise UserError(f"unknown SSIM window {window!r}; known: {', '.join(WINDOWS)}")
    n, c, h, w = x.shape
    if min(h, w) < win_size:
        raise UserError(f"SSIM needs images of at least {win_size}x{win_size} pixels after the crop, got {w}x{h}")
    cov_norm = win_size ** 2 / (win_size ** 2 - 1) if sample_covariance else 1.0
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    # Box sums of 8-bit integers and their products stay integers below 2^24 (7x7: 49 * 2 * 255^2), which
    # float32 holds exactly: the sums equal float64 ones at half the memory traffic. Weighted sums do not.
    exact32 = integer_inputs and window == "uniform" and win_size ** 2 * 2 * data_range ** 2 < 2 ** 24
    dtype = torch.float32 if exact32 else torch.float64
    planes_x = x.to(dtype).reshape(n * c, h, w)
    planes_y = y.to(dtype).reshape(n * c, h, w)
    out_h, out_w = h - win_size + 1, w - win_size + 1
    band_elements = _BAND_ELEMENTS if x.device.type == "cpu" else _BAND_ELEMENTS_GPU
    rows = min(out_h, max(8, band_elements // w))
    group = max(1, band_elements // (rows * w))
    sums = torch.zeros(n * c, dtype=torch.float64, device=x.device)
    with one_cpu_thread(x.device):
        for p in range(0, n * c, group):
            for r in range(0, out_h, rows):
                band = slice(r, min(r + rows, out_h) + win_size - 1)
                sums[p:p + group] += _ssim_sums(planes_x[p:p + group, band], planes_y[p:p + group, band], window,
                                                win_size, sigma, cov_norm, c1, c2)
    return (sums / (out_h * out_w)).view(n, c).mean(dim=1)


def ssim(pred: torch.Tensor, gt: torch.Tensor, crop_border: int = 0, color: str = "rgb", quantize: bool = True,
         window: str = "uniform", win_size: int = 7, sigma: float | None = None,
         sample_covariance: bool = True) -> torch.Tensor:
    """SSIM of float RGB [0, 1] images (3, H, W) or (N, 3, H, W) -> (N,) float64 on their device.

    The defaults are scikit-image's (uniform 7x7, sample covariance) on 8-bit RGB; `metrics.score` sets
    every argument from a named preset. crop_border, color and quantize as in `metrics.psnr.psnr`.
    """
    x, y = prepare(pred, gt, crop_border, color, quantize)
    return ssim_255(x, y, window, win_size, sigma, sample_covariance, integer_inputs=quantize and color == "rgb")
