"""Blur kernels: Gaussian (isotropic, anisotropic), generalised Gaussian, plateau, circular sinc, motion.

Every function returns float32 kernels that sum to 1: (k, k) when all shape arguments are Python
numbers, (B, k, k) when any of them is a tensor of shape (B,). `size` is odd; the kernel centre is
pixel (size // 2, size // 2); x runs along columns (width), y along rows (height).

Anisotropic shapes follow the DASR convention: sigma_x, sigma_y are the standard deviations along the
two principal axes (the covariance eigenvalues are their squares), theta rotates the first axis
counter-clockwise from the x axis (radians).
"""
import math

import torch

Number = float | torch.Tensor


def kernel_grid(size: int, dtype=torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel offsets from the centre: x (columns) and y (rows), each (size, size)."""
    if size < 1 or size % 2 == 0:
        raise ValueError(f"kernel size must be a positive odd integer, got {size}")
    ax = torch.arange(size, dtype=dtype) - size // 2
    y, x = torch.meshgrid(ax, ax, indexing="ij")
    return x, y


def _batch(*values: Number) -> tuple[list[torch.Tensor], bool]:
    """Broadcast scalars / (B,) tensors to float64 (B,) tensors; report whether any was a tensor."""
    batched = any(isinstance(v, torch.Tensor) and v.dim() > 0 for v in values)
    tensors = [torch.as_tensor(v, dtype=torch.float64).reshape(-1) for v in values]
    return list(torch.broadcast_tensors(*tensors)), batched


def _finish(k: torch.Tensor, batched: bool) -> torch.Tensor:
    k = k / k.sum(dim=(-2, -1), keepdim=True)
    k = k.float()
    return k if batched else k[0]


def rotated_grid(size: int, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Grid offsets along and across the direction theta (B,), each (B, k, k) float64."""
    x, y = kernel_grid(size)
    cos, sin = torch.cos(theta)[:, None, None], torch.sin(theta)[:, None, None]
    return cos * x + sin * y, -sin * x + cos * y


def _elliptic(size, sigma_x, sigma_y, theta, beta, profile) -> torch.Tensor:
    """profile(q, beta) on the grid, q = d^T Sigma^-1 d with Sigma = R diag(sx^2, sy^2) R^T."""
    sigma_y = sigma_x if sigma_y is None else sigma_y
    (sx, sy, th, b), batched = _batch(sigma_x, sigma_y, theta, beta)
    sx, sy = sx.clamp(min=1e-6), sy.clamp(min=1e-6)
    along, across = rotated_grid(size, th)
    q = (along / sx[:, None, None]) ** 2 + (across / sy[:, None, None]) ** 2
    return _finish(profile(q, b[:, None, None]), batched)


def gaussian_kernel(size: int, sigma_x: Number, sigma_y: Number | None = None, theta: Number = 0.0) -> torch.Tensor:
    """k ∝ exp(-q / 2). Isotropic when sigma_y is None. Covariance = R diag(sx^2, sy^2) R^T."""
    return _elliptic(size, sigma_x, sigma_y, theta, 1.0, lambda q, b: torch.exp(-0.5 * q))


def generalized_gaussian_kernel(size: int, sigma_x: Number, sigma_y: Number | None = None, theta: Number = 0.0,
                                beta: Number = 1.0) -> torch.Tensor:
    """k ∝ exp(-q^beta / 2) (Real-ESRGAN); beta = 1 is the Gaussian, beta > 1 flatter, beta < 1 peakier.

    Covariance = R diag(sx^2, sy^2) R^T · 2^(1/beta) Γ(2/beta) / (2 Γ(1/beta)).
    """
    return _elliptic(size, sigma_x, sigma_y, theta, beta, lambda q, b: torch.exp(-0.5 * q ** b))


def plateau_kernel(size: int, sigma_x: Number, sigma_y: Number | None = None, theta: Number = 0.0,
                   beta: Number = 1.0) -> torch.Tensor:
    """k ∝ 1 / (1 + q^beta) (Real-ESRGAN). The covariance is finite only for beta > 2, where it is
    R diag(sx^2, sy^2) R^T / (4 cos(pi / beta)); for smaller beta the kernel size sets it."""
    return _elliptic(size, sigma_x, sigma_y, theta, beta, lambda q, b: 1.0 / (1.0 + q ** b))


def sinc_kernel(size: int, omega_c: Number) -> torch.Tensor:
    """Circular low-pass: k(r) = omega_c J1(omega_c r) / (2 pi r), centre omega_c^2 / (4 pi).

    Ideal 2-D low-pass with cutoff omega_c (radians per pixel, in (0, pi]), truncated to size x size.
    """
    (w,), batched = _batch(omega_c)
    x, y = kernel_grid(size)
    r = torch.sqrt(x * x + y * y)[None]
    w = w[:, None, None]
    safe_r = torch.where(r == 0, torch.ones_like(r), r)
    k = w * _bessel_j1(w * safe_r) / (2 * math.pi * safe_r)
    k = torch.where(r == 0, w * w / (4 * math.pi), k)
    return _finish(k, batched)


def motion_kernel(size: int, length: Number, angle: Number, width: float = 0.5) -> torch.Tensor:
    """Linear motion blur: a centred segment of `length` pixels at `angle` (radians from the x axis),
    drawn with a Gaussian cross-profile of std `width` and Gaussian-smoothed ends (antialiased).

    Covariance = length^2 / 12 · u u^T + width^2 · I for the unit direction u (continuous limit).
    """
    (ln, ang), batched = _batch(length, angle)
    along, across = rotated_grid(size, ang)
    half = ln[:, None, None] / 2
    scale = width * math.sqrt(2)
    profile = torch.erf((along + half) / scale) - torch.erf((along - half) / scale)
    return _finish(profile * torch.exp(-0.5 * (across / width) ** 2), batched)


def _bessel_j1(x: torch.Tensor) -> torch.Tensor:
    try:
        from scipy.special import j1
    except ImportError:
        return torch.special.bessel_j1(x)
    return torch.from_numpy(j1(x.numpy()))
