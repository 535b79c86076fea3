"""Wiener deconvolution with a PSF field, in torch (FFT-based), blended between field nodes without seams.

Positions are given as coordinate maps (B, 2, h, w): (v, u) = ((y + 0.5) / H, (x + 0.5) / W) * 2 - 1 of each pixel in
the full frame (H, W), so a crop knows where it lies (Chen et al.'s FOV channels, at pixel centres). A node's
bilinear weight at v is degradations.psf.node_weights' at the same pixel.
"""
import torch
import torch.nn.functional as F


def coordinate_maps(h: int, w: int, region: tuple[int, int, int, int] | None = None, device=None) -> torch.Tensor:
    """(1, 2, h, w) (v, u) maps of an h x w image, or of the crop region (top, left, full_h, full_w)."""
    top, left, full_h, full_w = region if region is not None else (0, 0, h, w)
    v = (torch.arange(top, top + h, dtype=torch.float32, device=device) + 0.5) / full_h * 2 - 1
    u = (torch.arange(left, left + w, dtype=torch.float32, device=device) + 0.5) / full_w * 2 - 1
    return torch.stack(torch.meshgrid(v, u, indexing="ij"))[None]


def node_weights_at(coords: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """(B, gh, gw, h, w) bilinear node weights at the coordinate maps (B, 2, h, w); they sum to 1 per pixel."""
    def axis(c, n):
        t = ((c + 1) / 2 * n - 0.5).clamp(0, n - 1)
        return (1 - (t[:, None] - torch.arange(n, device=c.device, dtype=c.dtype)[None, :, None, None]).abs()).clamp(min=0)
    wy, wx = axis(coords[:, 0], grid[0]), axis(coords[:, 1], grid[1])
    return wy[:, :, None] * wx[:, None, :]


def psf_to_otf(kernels: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """rfft2 of (..., k, k) kernels zero-padded to `shape` with their centre moved to (0, 0): (..., H, W // 2 + 1)."""
    k = kernels.shape[-1]
    padded = F.pad(kernels, (0, shape[1] - k, 0, shape[0] - k))
    return torch.fft.rfft2(padded.roll((-(k // 2), -(k // 2)), dims=(-2, -1)))


def wiener_deconvolve(y: torch.Tensor, kernels: torch.Tensor, inv_snr) -> torch.Tensor:
    """Wiener deconvolution of (B, C, h, w) by kernels (B or 1, C, k, k): X = conj(K) Y / (|K|^2 + 1/SNR).

    inv_snr: a number, or a tensor broadcasting against (B, C, H, W // 2 + 1) on the padded FFT grid (a learned
    1/SNR map). The image is reflect-padded by 3k on each side (less circular wrap-around) and cropped back."""
    h, w = y.shape[-2:]
    p = min(3 * kernels.shape[-1], h - 1, w - 1)
    padded = F.pad(y, (p, p, p, p), mode="reflect")
    shape = padded.shape[-2:]
    otf = psf_to_otf(kernels.to(y), shape)
    spectrum = torch.fft.rfft2(padded) * otf.conj() / (otf.abs() ** 2 + inv_snr)
    return torch.fft.irfft2(spectrum, s=shape)[..., p:p + h, p:p + w]


def field_wiener(y: torch.Tensor, field: torch.Tensor, inv_snr, coords: torch.Tensor) -> torch.Tensor:
    """Deconvolve (B, C, h, w) with every node's PSF of a (gh, gw, C, k, k) field and blend the results with the
    node weights at `coords` (B, 2, h, w). inv_snr: a number or a callable (node i, j) -> inv_snr tensor."""
    weights = node_weights_at(coords, field.shape[:2]).to(y)
    out = torch.zeros_like(y)
    for i in range(field.shape[0]):
        for j in range(field.shape[1]):
            wn = weights[:, i, j, None]
            if not (wn > 0).any():
                continue
            eps = inv_snr(i, j) if callable(inv_snr) else inv_snr
            out = out + wn * wiener_deconvolve(y, field[i, j][None], eps)
    return out
