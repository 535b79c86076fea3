"""Spatially variant blur from a PSF field: per-channel kernels on a regular grid over the image.

A field is (gh, gw, C, k, k) (or (B, gh, gw, C, k, k), one per image): node (i, j) holds the PSF at the
centre of tile (i, j) when the image is cut into gh x gw equal tiles. The output is
y = sum_n w_n(p) (h_n * x)(p), where w_n are the bilinear weights of pixel p with respect to the four
surrounding node centres (constant beyond the outermost centres). The weights sum to 1 everywhere, so
the blur varies smoothly with no tile seams, and a constant field is plain convolution.
Each node's convolution is computed only where its weight is non-zero.

A field is stored as a safetensors file (`save_psf_field` / `load_psf_field`, never pickle): the tensor "field" and
string metadata (format, grid, kernel_size, channels, plus any of the caller's).
"""
import json
import math
from pathlib import Path

import torch

from deflow.errors import UserError
from degradations.blur import blur
from degradations.kernels import gaussian_kernel, kernel_grid

FIELD_FORMAT = "deflow-psf-field-v1"


def node_weights(length: int, nodes: int, dtype=torch.float32) -> torch.Tensor:
    """(nodes, length) bilinear weights of each pixel along one axis; columns sum to 1."""
    t = ((torch.arange(length, dtype=torch.float64) + 0.5) * nodes / length - 0.5).clamp(0, nodes - 1)
    dist = (t[None, :] - torch.arange(nodes, dtype=torch.float64)[:, None]).abs()
    return (1 - dist).clamp(min=0).to(dtype)


def _support(weights: torch.Tensor) -> tuple[int, int]:
    nonzero = torch.nonzero(weights > 0).flatten()
    return int(nonzero[0]), int(nonzero[-1]) + 1


def apply_psf_field(x: torch.Tensor, field: torch.Tensor, region: tuple[int, int, int, int] | None = None) -> torch.Tensor:
    """Blur (B, C, H, W) with a PSF field (gh, gw, C, k, k) or (B, gh, gw, C, k, k); k odd.

    Returns (B, C, H, W). Image borders use reflect padding, as `blur`; each node blurs only its support
    plus a k // 2 halo taken from the image, so the result does not depend on the crop.
    region: (top, left, full_h, full_w) when x is a crop of a larger image: the field is laid over the full image
    and the crop gets that part of it (its outer k // 2 pixels see reflected, not real, neighbours).
    """
    if field.dim() == 5:
        field = field[None]
    gh, gw, k = field.shape[1], field.shape[2], field.shape[-1]
    h, w = x.shape[-2:]
    top0, left0, full_h, full_w = region if region is not None else (0, 0, h, w)
    wy = node_weights(full_h, gh, x.dtype)[:, top0:top0 + h].to(x.device)
    wx = node_weights(full_w, gw, x.dtype)[:, left0:left0 + w].to(x.device)
    if wy.shape[1] != h or wx.shape[1] != w:
        raise ValueError(f"region {region} does not hold a {h}x{w} crop")
    p = k // 2
    out = torch.zeros_like(x)
    for i in range(gh):
        if not (wy[i] > 0).any():
            continue
        r0, r1 = _support(wy[i])
        for j in range(gw):
            if not (wx[j] > 0).any():
                continue
            c0, c1 = _support(wx[j])
            top, left = max(r0 - p, 0), max(c0 - p, 0)
            crop = x[..., top:min(r1 + p, h), left:min(c1 + p, w)]
            conv = blur(crop, field[:, i, j])
            local = conv[..., r0 - top:r1 - top, c0 - left:c1 - left]
            out[..., r0:r1, c0:c1] += local * (wy[i, r0:r1, None] * wx[j, None, c0:c1])
    return out


def node_radius(grid: tuple[int, int]) -> torch.Tensor:
    """(gh, gw) normalised field radius of every node centre: 0 at the image centre, 1 at the corners."""
    return _node_polar(grid)[0]


def fov_kernel_sizes(grid: tuple[int, int], sizes=(19, 23, 27), bounds=(0.5, 0.8)) -> torch.Tensor:
    """(gh, gw) kernel support of every node, growing with the field radius r: sizes[z] in the zone
    bounds[z - 1] <= r < bounds[z] (Chen et al. 2021, degradation_transfer: 19 / 23 / 27 px at r < 0.5 / 0.8 / 1)."""
    if len(sizes) != len(bounds) + 1 or any(s % 2 == 0 for s in sizes):
        raise ValueError(f"need len(bounds) + 1 odd sizes, got sizes {sizes}, bounds {bounds}")
    zone = torch.bucketize(node_radius(grid).float(), torch.tensor(bounds, dtype=torch.float32), right=True)
    return torch.tensor(sizes)[zone]


def support_masks(node_sizes: torch.Tensor, size: int) -> torch.Tensor:
    """(gh, gw, 1, size, size) 0/1 masks: the centred node_sizes[i, j]-square of a size x size kernel."""
    x, y = kernel_grid(size)
    half = (node_sizes.double() // 2)[..., None, None, None]
    return ((x.abs() <= half) & (y.abs() <= half)).float()


def save_psf_field(path: str | Path, field: torch.Tensor, metadata: dict | None = None) -> None:
    """Write a (gh, gw, C, k, k) field as safetensors; `metadata` values are stored as JSON strings."""
    from safetensors.torch import save_file

    if field.dim() != 5 or field.shape[-1] != field.shape[-2] or field.shape[-1] % 2 == 0:
        raise ValueError(f"a PSF field is (gh, gw, C, k, k) with k odd, got {tuple(field.shape)}")
    gh, gw, c, k = field.shape[0], field.shape[1], field.shape[2], field.shape[-1]
    meta = {"format": FIELD_FORMAT, "grid": f"{gh},{gw}", "kernel_size": str(k), "channels": str(c)}
    meta |= {key: json.dumps(value) for key, value in (metadata or {}).items()}
    save_file({"field": field.detach().float().cpu().contiguous()}, str(path), metadata=meta)


def load_psf_field(path: str | Path) -> tuple[torch.Tensor, dict]:
    """(field (gh, gw, C, k, k), metadata) of a file written by save_psf_field; the caller's metadata JSON-decoded."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file, safe_open

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: PSF field file not found; write one with scripts/psf_transfer.py")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        field = load_file(str(path)).get("field")
    except (SafetensorError, OSError, ValueError) as exc:
        raise UserError(f"{path}: not a readable safetensors PSF field ({str(exc).splitlines()[0][:120]})") from None
    if meta.get("format") != FIELD_FORMAT or field is None:
        raise UserError(f"{path}: not a PSF field file (format {meta.get('format')!r}, expected {FIELD_FORMAT!r})")
    shape = (*map(int, meta["grid"].split(",")), int(meta["channels"]), int(meta["kernel_size"]), int(meta["kernel_size"]))
    if tuple(field.shape) != shape or not torch.isfinite(field).all():
        raise UserError(f"{path}: field is {tuple(field.shape)}, its metadata says {shape} (or it is not finite)")
    extra = {key: json.loads(value) for key, value in meta.items()
             if key not in ("format", "grid", "kernel_size", "channels")}
    return field, extra


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
