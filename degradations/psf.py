"""Spatially variant blur from a PSF field: per-channel kernels on a regular grid over the image.

A field is (gh, gw, C, k, k) (or (B, gh, gw, C, k, k), one per image): node (i, j) holds the PSF at the
centre of tile (i, j) when the image is cut into gh x gw equal tiles. The output is
y = sum_n w_n(p) (h_n * x)(p), where w_n are the bilinear weights of pixel p with respect to the four
surrounding node centres (constant beyond the outermost centres). The weights sum to 1 everywhere, so
the blur varies smoothly with no tile seams, and a constant field is plain convolution.
Each node's convolution is computed only where its weight is non-zero.
"""
import math

import torch

from degradations.blur import blur
from degradations.kernels import gaussian_kernel, kernel_grid


def node_weights(length: int, nodes: int, dtype=torch.float32) -> torch.Tensor:
    """(nodes, length) bilinear weights of each pixel along one axis; columns sum to 1."""
    t = ((torch.arange(length, dtype=torch.float64) + 0.5) * nodes / length - 0.5).clamp(0, nodes - 1)
    dist = (t[None, :] - torch.arange(nodes, dtype=torch.float64)[:, None]).abs()
    return (1 - dist).clamp(min=0).to(dtype)


def _support(weights: torch.Tensor) -> tuple[int, int]:
    nonzero = torch.nonzero(weights > 0).flatten()
    return int(nonzero[0]), int(nonzero[-1]) + 1


def apply_psf_field(x: torch.Tensor, field: torch.Tensor) -> torch.Tensor:
    """Blur (B, C, H, W) with a PSF field (gh, gw, C, k, k) or (B, gh, gw, C, k, k); k odd.

    Returns (B, C, H, W). Image borders use reflect padding, as `blur`; each node blurs only its support
    plus a k // 2 halo taken from the image, so the result does not depend on the crop.
    """
    if field.dim() == 5:
        field = field[None]
    gh, gw, k = field.shape[1], field.shape[2], field.shape[-1]
    h, w = x.shape[-2:]
    wy, wx = node_weights(h, gh, x.dtype).to(x.device), node_weights(w, gw, x.dtype).to(x.device)
    p = k // 2
    out = torch.zeros_like(x)
    for i in range(gh):
        r0, r1 = _support(wy[i])
        for j in range(gw):
            c0, c1 = _support(wx[j])
            top, left = max(r0 - p, 0), max(c0 - p, 0)
            crop = x[..., top:min(r1 + p, h), left:min(c1 + p, w)]
            conv = blur(crop, field[:, i, j])
            local = conv[..., r0 - top:r1 - top, c0 - left:c1 - left]
            out[..., r0:r1, c0:c1] += local * (wy[i, r0:r1, None] * wx[j, None, c0:c1])
    return out


def _node_polar(grid: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalised radius r in [0, 1] (1 at the corners) and outward angle of every node, (gh, gw) each."""
    gh, gw = grid
    v = (torch.arange(gh, dtype=torch.float64) + 0.5) / gh * 2 - 1
    u = (torch.arange(gw, dtype=torch.float64) + 0.5) / gw * 2 - 1
    vv, uu = torch.meshgrid(v, u, indexing="ij")
    return torch.sqrt(uu * uu + vv * vv) / math.sqrt(2), torch.atan2(vv, uu)


def _per_channel(kernel_fn, grid, channel_scale) -> torch.Tensor:
    r, angle = _node_polar(grid)
    channels = [kernel_fn(r.flatten(), angle.flatten(), s) for s in channel_scale]
    k = channels[0].shape[-1]
    return torch.stack(channels, dim=1).reshape(*grid, len(channel_scale), k, k)


def radial_gaussian_field(grid: tuple[int, int] = (5, 5), size: int = 21, sigma_center: float = 0.5,
                          sigma_edge: float = 2.5, channel_scale=(1.0, 1.0, 1.0)) -> torch.Tensor:
    """Isotropic Gaussian PSFs whose std grows with the squared field radius r (0 centre, 1 corner):
    sigma = (sigma_center + (sigma_edge - sigma_center) r^2) * channel_scale[c]. (gh, gw, C, k, k)."""
    def kernels(r, angle, s):
        return gaussian_kernel(size, (sigma_center + (sigma_edge - sigma_center) * r * r) * s)
    return _per_channel(kernels, grid, channel_scale)


def coma_field(grid: tuple[int, int] = (5, 5), size: int = 21, sigma: float = 0.8, length: float = 6.0,
               channel_scale=(1.0, 1.0, 1.0)) -> torch.Tensor:
    """Comet-shaped PSFs: a sharp core with a fading, widening tail pointing away from the image centre,
    tail length length * r * channel_scale[c] (r = normalised field radius). Asymmetric off-axis,
    a plain Gaussian of std sigma at the centre. (gh, gw, C, k, k)."""
    x, y = kernel_grid(size)

    def kernels(r, angle, s):
        total = 0
        for t in torch.linspace(0, 1, 9, dtype=torch.float64):
            shift = (t * length * s * r)[:, None, None]
            mx, my = shift * torch.cos(angle)[:, None, None], shift * torch.sin(angle)[:, None, None]
            spread = sigma * (1 + t)
            blob = torch.exp(-((x - mx) ** 2 + (y - my) ** 2) / (2 * spread ** 2)) / spread ** 2
            total = total + (1 - 0.8 * t) * blob
        return (total / total.sum(dim=(-2, -1), keepdim=True)).float()
    return _per_channel(kernels, grid, channel_scale)
