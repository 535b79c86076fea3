"""Run an image-to-image function over overlapping tiles, so memory is bounded by the tile, not the image.

The whole image stays on the CPU; one tile at a time goes to the model's device (Real-ESRGAN #184 moved the
whole image first). Two ways to join tiles: `ramp` blends overlaps linearly (no seams for deterministic models);
`cut` takes every pixel from the one tile that holds it farthest from its edge, the seam in the middle of the
overlap, for stochastic models: a blend of two independent noise draws would have less noise than either (half
the variance midway), a visible band in DeFlow's translations.
"""
from collections.abc import Callable

import torch
import torch.nn.functional as F

from deflow.errors import UserError


def _starts(length: int, tile: int, overlap: int) -> list[int]:
    if length <= tile:
        return [0]
    step = tile - overlap
    starts = list(range(0, length - tile, step))
    return starts + [length - tile]


def _ramp(length: int, overlap: int, at_start: bool, at_end: bool) -> torch.Tensor:
    """1 inside, rising linearly over `overlap` pixels at edges that meet another tile."""
    w = torch.ones(length)
    if overlap > 0:
        rise = torch.arange(1, overlap + 1, dtype=torch.float32) / (overlap + 1)
        n = min(overlap, length)
        if not at_start:
            w[:n] = rise[:n]
        if not at_end:
            w[-n:] = torch.minimum(w[-n:], rise[:n].flip(0))
    return w


def cut_seams(length: int, tile: int, overlap: int) -> list[int]:
    """Where the cut join passes from one tile to the next along an axis of `length` px: the middles of the overlaps."""
    starts = _starts(length, tile, overlap)
    return [(a + min(tile, length) + b) // 2 for a, b in zip(starts, starts[1:])]


def _cut(starts: list[int], index: int, tile: int) -> torch.Tensor:
    """Over tile `index` (of side `tile`): 1 where it owns the pixel, between the middles of its overlaps."""
    bounds = [0] + [(a + tile + b) // 2 for a, b in zip(starts, starts[1:])] + [starts[-1] + tile]
    w = torch.zeros(tile)
    w[bounds[index] - starts[index]:bounds[index + 1] - starts[index]] = 1
    return w


def _normalised(starts: list[int], length: int, tile: int, overlap: int, scale: int, join: str) -> list[torch.Tensor]:
    """Each tile's weights along one axis, in output pixels, divided by their sum over the tiles at every pixel.

    A tile's 2-D weight is the product of its row and column weights, so the weights of all tiles sum to the
    product of the two axes' sums: dividing each axis by its own sum makes them sum to 1 at every pixel, and the
    output needs no accumulator of weights beside it."""
    side = min(tile, length)
    if join == "ramp":
        weights = [_ramp(side * scale, overlap * scale, i == 0, i == len(starts) - 1) for i in range(len(starts))]
    else:
        weights = [_cut(starts, i, side).repeat_interleave(scale) for i in range(len(starts))]
    total = torch.zeros(length * scale)
    for start, w in zip(starts, weights):
        total[start * scale:start * scale + w.numel()] += w
    return [w / total[start * scale:start * scale + w.numel()] for start, w in zip(starts, weights)]


def tile_option(tile: int, overlap: int, flag: str = "--tile") -> int | None:
    """A command line's tile side: None for 0 (whole images), else a side larger than the overlap of the tiles."""
    if tile == 0:
        return None
    if tile <= overlap:
        raise UserError(f"{flag} {tile}: give 0 (whole images) or a tile side larger than the {overlap} px "
                        "by which tiles overlap")
    return tile


def apply_tiled(fn: Callable[[torch.Tensor], torch.Tensor], image: torch.Tensor, tile: int | None, overlap: int = 16,
                scale: int = 1, device: torch.device | str = "cpu", join: str = "ramp",
                dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """fn: (1, C, h, w) -> (1, C', h*scale, w*scale) on `device`; image: (1, C, H, W) -> (1, C', H*scale, W*scale) on CPU.

    tile=None (or a tile larger than the image) runs the whole image at once. join: "ramp" or "cut" (see above).
    dtype: the output's; torch.uint8 holds round(255 clamp(y, 0, 1)), what an 8-bit file stores (write_image), in a
    quarter of float32's memory. Tiles go a row at a time into a float band of one tile's height; the rows that no
    later tile reaches leave the band for the output, so the output is the only full-size tensor.
    """
    if join not in ("ramp", "cut"):
        raise ValueError(f"join must be 'ramp' or 'cut', got {join!r}")
    _, _, height, width = image.shape
    if tile is None or (height <= tile and width <= tile):
        return _as(fn(image.to(device)).cpu().float(), dtype)
    if overlap >= tile:
        raise ValueError(f"tile overlap {overlap} must be smaller than the tile {tile}")
    ys, xs = _starts(height, tile, overlap), _starts(width, tile, overlap)
    rows = _normalised(ys, height, tile, overlap, scale, join)
    columns = _normalised(xs, width, tile, overlap, scale, join)
    out = band = None
    for i, (y, wy) in enumerate(zip(ys, rows)):
        for x, wx in zip(xs, columns):
            result = fn(image[..., y:y + tile, x:x + tile].to(device)).cpu().float()
            if out is None:
                out = torch.empty(1, result.shape[1], height * scale, width * scale, dtype=dtype)
                band = torch.zeros(1, result.shape[1], wy.numel(), width * scale)
            band[..., x * scale:x * scale + result.shape[-1]] += result * (wy[:, None] * wx[None, :])
        done = (ys[i + 1] - y) * scale if i + 1 < len(ys) else band.shape[2]  # rows final before the next tile row
        out[..., y * scale:y * scale + done, :] = _as(band[..., :done, :], dtype)
        band = torch.cat([band[..., done:, :], torch.zeros_like(band[..., :done, :])], dim=2)
    return out


def _as(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    return x.clamp(0, 1).mul(255).round().to(dtype) if dtype == torch.uint8 else x.to(dtype)


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, int, int]:
    """Reflect-pad the bottom/right so H and W are multiples of `multiple`; returns the padding too."""
    pad_h, pad_w = (-x.shape[-2]) % multiple, (-x.shape[-1]) % multiple
    if pad_h or pad_w:
        mode = "reflect" if min(x.shape[-2:]) > max(pad_h, pad_w) else "replicate"
        x = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
    return x, pad_h, pad_w
