"""Resizing: MATLAB-style antialiased bicubic `imresize`, and torch's area / bilinear / bicubic / nearest.

`imresize` follows MATLAB's `imresize(A, scale, 'bicubic')`: Keys' cubic with a = -0.5, the kernel
stretched by 1/scale when shrinking (antialiasing), pixel-centre alignment
u = x / scale + (1 - 1 / scale) / 2, and symmetric (mirror, edge repeated) boundary handling.
"""
import functools
import math

import torch
import torch.nn.functional as F

MODES = ("area", "bilinear", "bicubic", "nearest", "imresize")


def cubic(x: torch.Tensor) -> torch.Tensor:
    """Keys' cubic convolution kernel with a = -0.5 (support [-2, 2])."""
    ax = x.abs()
    ax2, ax3 = ax * ax, ax * ax * ax
    near = 1.5 * ax3 - 2.5 * ax2 + 1.0
    far = -0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0
    return torch.where(ax <= 1, near, torch.where(ax <= 2, far, torch.zeros_like(ax)))


def _contributions(in_len: int, out_len: int, scale: float, antialias: bool):
    """Source indices (out_len, P) and weights (out_len, P), float64, for one axis."""
    width = 4.0
    shrink = antialias and scale < 1
    if shrink:
        width /= scale
    x = torch.arange(1, out_len + 1, dtype=torch.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = torch.floor(u - width / 2)
    taps = int(math.ceil(width)) + 2
    idx = left[:, None] + torch.arange(taps, dtype=torch.float64)[None, :]
    dist = u[:, None] - idx
    weights = scale * cubic(scale * dist) if shrink else cubic(dist)
    weights = weights / weights.sum(dim=1, keepdim=True)
    period = 2 * in_len
    zero_based = torch.remainder(idx - 1, period).long()
    mirrored = torch.where(zero_based < in_len, zero_based, period - 1 - zero_based)
    used = weights.abs().sum(dim=0) > 0
    return mirrored[:, used], weights[:, used]


@functools.lru_cache(maxsize=64)
def resize_matrix(in_len: int, out_len: int, scale: float, antialias: bool = True) -> torch.Tensor:
    """(out_len, in_len) float64 matrix of MATLAB's bicubic weights for one axis (rows sum to 1).
    Cached: treat it as read-only."""
    idx, w = _contributions(in_len, out_len, scale, antialias)
    return torch.zeros(out_len, in_len, dtype=torch.float64).scatter_add_(1, idx, w)


def _resize_axis(x: torch.Tensor, dim: int, out_len: int, scale: float, antialias: bool) -> torch.Tensor:
    matrix = resize_matrix(x.shape[dim], out_len, scale, antialias).to(device=x.device, dtype=x.dtype)
    return matrix @ x if dim == -2 else x @ matrix.T


def _output_size(h: int, w: int, scale, size) -> tuple[tuple[int, int], tuple[float, float]]:
    if (scale is None) == (size is None):
        raise ValueError("give exactly one of scale and size")
    if size is not None:
        oh, ow = int(size[0]), int(size[1])
        return (oh, ow), (oh / h, ow / w)
    return (int(math.ceil(h * scale)), int(math.ceil(w * scale))), (float(scale), float(scale))


def imresize(x: torch.Tensor, scale: float | None = None, size: tuple[int, int] | None = None,
             *, antialias: bool = True) -> torch.Tensor:
    """MATLAB-style bicubic resize.

    Args:
        x: (B, C, H, W) or (C, H, W) float tensor (any range; no clamping or rounding).
        scale: output = ceil(scale * input size), as MATLAB's `imresize(A, scale)`.
        size: (out_h, out_w); the per-axis scale is out / in. Give exactly one of scale and size.
        antialias: widen the kernel by 1/scale when shrinking (MATLAB's default, True).

    Returns:
        Tensor of the input's rank, dtype and device, (..., out_h, out_w). Weights are computed in
        float64; the axis with the smaller scale is resized first, as MATLAB does.
    """
    if x.dim() not in (3, 4):
        raise ValueError(f"imresize expects (C, H, W) or (B, C, H, W), got shape {tuple(x.shape)}")
    h, w = x.shape[-2:]
    (oh, ow), (sh, sw) = _output_size(h, w, scale, size)
    order = [(-2, oh, sh), (-1, ow, sw)]
    if sw < sh:
        order.reverse()
    for dim, out_len, s in order:
        if out_len != x.shape[dim] or s != 1:
            x = _resize_axis(x, dim, out_len, s, antialias)
    return x


def resize(x: torch.Tensor, size: tuple[int, int] | None = None, scale: float | None = None,
           mode: str = "bicubic") -> torch.Tensor:
    """Resize a batch with one of `MODES`.

    Args:
        x: (B, C, H, W) float tensor.
        size / scale: exactly one; with scale the output is round(scale * input size), at least 1.
        mode: 'area', 'bilinear', 'bicubic', 'nearest' (torch, align_corners=False, no antialias, as
            Real-ESRGAN) or 'imresize' (MATLAB bicubic with antialiasing).

    Returns:
        (B, C, out_h, out_w), same dtype and device (bicubic may overshoot [0, 1]).
    """
    if mode not in MODES:
        raise ValueError(f"unknown resize mode {mode!r}; use one of {MODES}")
    h, w = x.shape[-2:]
    if size is None:
        if scale is None:
            raise ValueError("give exactly one of scale and size")
        size = (max(1, round(h * scale)), max(1, round(w * scale)))
    size = (int(size[0]), int(size[1]))
    if size == (h, w):
        return x
    if mode == "imresize":
        return imresize(x, size=size)
    if mode in ("bilinear", "bicubic"):
        return F.interpolate(x, size=size, mode=mode, align_corners=False)
    return F.interpolate(x, size=size, mode=mode)
