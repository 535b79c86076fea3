"""Fusion of registered frames on the `scale`x grid (observation model y_k = D H W_k x + n_k, Elad & Feuer 1997):

- `shift_and_add`: every LR sample put on its nearest HR pixel, per pixel the median (L1-optimal, robust; Farsiu
  et al. 2004, section III) or the mean of the samples that landed there; holes filled by normalised convolution.
  It estimates H x, the blurred scene, and its sample count per pixel is the confidence map.
- `back_projection`: iterative back-projection (Irani & Peleg, CVGIP 53(3), 1991): x += (sum_k W_k^T H^T D^T r_k)
  / (sum_k W_k^T H^T D^T 1), r_k = y_k - D H W_k x, started from shift-and-add.
- `btv_l1`: Farsiu, Robinson, Elad & Milanfar, "Fast and robust multiframe super resolution", IEEE TIP 13(10),
  2004, eq. 22: steepest descent on sum_k ||D H W_k x - y_k||_1 + lambda sum_{l,m} alpha^(|l|+|m|)
  ||x - S_x^l S_y^m x||_1. OpenCV's implementation (opencv_contrib superres, BTVL1) is not exposed to Python.
  Here the data term's gradient is divided by the per-pixel sample weight (as the A of the paper's fast two-step
  variant, eq. 28), so the step beta is in image units.

The forward operator `simulate` (H: a Gaussian PSF in HR pixels, D: area sampling of each LR pixel's scale x scale
HR footprint, W_k: bilinear sampling at the frame's positions) is differentiable, and its adjoint is its gradient.
"""
import math

import torch
import torch.nn.functional as F

from degradations.blur import blur
from degradations.kernels import gaussian_kernel


def hr_coordinates(positions: torch.Tensor, scale: int) -> torch.Tensor:
    """(T, 2, h, w) LR positions on the reference grid -> HR coordinates."""
    return scale * positions + (scale - 1) / 2


def shift_and_add(frames: torch.Tensor, positions: torch.Tensor, scale: int, reducer: str = "median",
                  size: tuple[int, int] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """frames (T, C, h, w) with positions (T, 2, h, w) -> (fused (C, H, W) with holes filled, count (1, H, W): the
    samples that landed on each HR pixel). `size` (H, W) defaults to scale x the frames."""
    t, c, h, w = frames.shape
    H, W = size or (h * scale, w * scale)
    u = hr_coordinates(positions, scale).round().long()
    inside = (u[:, 0] >= 0) & (u[:, 0] < W) & (u[:, 1] >= 0) & (u[:, 1] < H)
    index = (u[:, 1] * W + u[:, 0])[inside]                       # (S,) HR pixel of each sample
    values = frames.permute(0, 2, 3, 1)[inside]                    # (S, C)
    count = torch.bincount(index, minlength=H * W)
    fused = torch.zeros(H * W, c, dtype=frames.dtype, device=frames.device)
    if reducer == "mean":
        fused.index_add_(0, index, values)
        fused /= count.clamp_min(1)[:, None]
    elif reducer == "median":
        starts = torch.cumsum(count, 0) - count
        has = count > 0
        for ch in range(c):
            order = torch.sort(values[:, ch], stable=True).indices
            order = order[torch.sort(index[order], stable=True).indices]  # by pixel, then by value
            ranked = values[order, ch]
            low = ranked[(starts + (count - 1) // 2)[has]]
            high = ranked[(starts + count // 2)[has]]
            fused[has, ch] = (low + high) / 2
    else:
        raise ValueError(f"reducer {reducer!r}: median or mean")
    fused = fused.T.reshape(c, H, W)
    count = count.reshape(1, H, W).to(frames.dtype)
    return fill_holes(fused, count > 0), count


def fill_holes(image: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """(C, H, W) with the pixels where `known` (1, H, W) is false replaced by a Gaussian-weighted mean of the known
    ones near them (normalised convolution, the kernel widened until every hole is reached)."""
    if bool(known.all()):
        return image
    mask = known.to(image.dtype)
    out, sigma = image.clone(), 1.0
    while True:
        k = gaussian_kernel(2 * math.ceil(3 * sigma) + 1, sigma).to(image)
        num = blur((image * mask)[None], k)[0]
        den = blur(mask[None], k)[0]
        reached = den > 1e-6
        fill = ~known & reached
        out = torch.where(fill, num / den.clamp_min(1e-12), out)
        if bool((known | reached).all()) or sigma > max(image.shape[-2:]):
            return out
        sigma *= 2


def simulate(x: torch.Tensor, positions: torch.Tensor, scale: int, psf_sigma: float) -> torch.Tensor:
    """The LR frames the scene x (C, H, W) gives: (T, C, h, w) for positions (T, 2, h, w)."""
    from sr.multiframe.geometry import sample

    t = positions.shape[0]
    hx = x[None]
    if psf_sigma > 0:
        hx = blur(hx, gaussian_kernel(2 * math.ceil(3 * psf_sigma) + 1, psf_sigma).to(x))
    centre = hr_coordinates(positions, scale)
    offsets = [(j - (scale - 1) / 2) for j in range(scale)]
    hx = hx.expand(t, -1, -1, -1)
    out = 0
    for dy in offsets:  # area sampling: the mean of the footprint's scale x scale HR samples
        for dx in offsets:
            shift = torch.tensor([dx, dy], dtype=centre.dtype, device=centre.device).reshape(1, 2, 1, 1)
            out = out + sample(hx, centre + shift)
    return out / scale ** 2


def _inside(positions: torch.Tensor, scale: int, size: tuple[int, int]) -> torch.Tensor:
    """(T, 1, h, w): the samples that fall on the HR grid (their footprints inside it)."""
    u = hr_coordinates(positions, scale)
    H, W = size
    ok = (u[:, 0] >= 0) & (u[:, 0] <= W - 1) & (u[:, 1] >= 0) & (u[:, 1] <= H - 1)
    return ok[:, None].float()


def _adjoint(x: torch.Tensor, positions: torch.Tensor, scale: int, psf_sigma: float,
             residual: torch.Tensor) -> torch.Tensor:
    """(C, H, W): sum_k W_k^T H^T D^T residual_k, by autograd of <simulate(x), residual>."""
    with torch.enable_grad():  # also inside an inference's no_grad
        x = x.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad((simulate(x, positions, scale, psf_sigma) * residual).sum(), x)
    return grad


def back_projection(frames: torch.Tensor, positions: torch.Tensor, scale: int, psf_sigma: float = 0.5,
                    iterations: int = 20, step: float = 1.0, start: torch.Tensor | None = None) -> torch.Tensor:
    """(C, H, W) IBP estimate from frames (T, C, h, w) at positions (T, 2, h, w), from `start` (default:
    median shift-and-add)."""
    x = shift_and_add(frames, positions, scale)[0] if start is None else start.clone()
    inside = _inside(positions, scale, x.shape[-2:])
    weight = _adjoint(x, positions, scale, psf_sigma, inside.expand_as(frames)).clamp_min(1e-3)
    for _ in range(iterations):
        with torch.no_grad():
            residual = (frames - simulate(x, positions, scale, psf_sigma)) * inside
        x = x + step * _adjoint(x, positions, scale, psf_sigma, residual) / weight
    return x.detach()


def btv_gradient(x: torch.Tensor, radius: int, alpha: float) -> torch.Tensor:
    """The (sub)gradient of the bilateral TV sum_{l,m} alpha^(|l|+|m|) ||x - S_x^l S_y^m x||_1 (Farsiu 2004, eq. 21;
    the half plane of offsets, l + m >= 0 as in the paper's sum, each pair once), borders replicated."""
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        padded = F.pad(x[None], (radius,) * 4, mode="replicate")[0]
        h, w = x.shape[-2:]
        total = 0
        for m in range(0, radius + 1):
            for l in range(-radius, radius + 1):
                if (m == 0 and l <= 0) or l + m < 0:
                    continue
                shifted = padded[:, radius + m:radius + m + h, radius + l:radius + l + w]
                total = total + alpha ** (abs(l) + abs(m)) * (x - shifted).abs().sum()
        (grad,) = torch.autograd.grad(total, x)
    return grad


def btv_l1(frames: torch.Tensor, positions: torch.Tensor, scale: int, psf_sigma: float = 0.5,
           iterations: int = 50, step: float = 0.01, lam: float = 0.05, radius: int = 2, alpha: float = 0.7,
           start: torch.Tensor | None = None) -> torch.Tensor:
    """(C, H, W) L1 + bilateral-TV MAP estimate (module docstring), from `start` (default: median shift-and-add).
    The step decays linearly to a tenth of `step` over the iterations."""
    x = shift_and_add(frames, positions, scale)[0] if start is None else start.clone()
    inside = _inside(positions, scale, x.shape[-2:])
    weight = _adjoint(x, positions, scale, psf_sigma, inside.expand_as(frames)).clamp_min(1e-3)
    for n in range(iterations):
        with torch.no_grad():
            sign = torch.sign(simulate(x, positions, scale, psf_sigma) - frames) * inside
        data = _adjoint(x, positions, scale, psf_sigma, sign) / weight
        beta = step * (1 - 0.9 * n / max(iterations - 1, 1))
        x = (x - beta * (data + lam * btv_gradient(x, radius, alpha))).detach()
    return x
