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


def _cut(starts: list[int], index: int, tile: int) -> torch.Tensor:
    """Over tile `index` (of side `tile`): 1 where it owns the pixel, between the middles of its overlaps."""
    bounds = [0] + [(a + tile + b) // 2 for a, b in zip(starts, starts[1:])] + [starts[-1] + tile]
    w = torch.zeros(tile)
    w[bounds[index] - starts[index]:bounds[index + 1] - starts[index]] = 1
    return w


def tile_option(tile: int, overlap: int, flag: str = "--tile") -> int | None:
    """A command line's tile side: None for 0 (whole images), else a side larger than the overlap of the tiles."""
    if tile == 0:
        return None
    if tile <= overlap:
        raise UserError(f"{flag} {tile}: give 0 (whole images) or a tile side larger than the {overlap} px "
                        "by which tiles overlap")
    return tile


def apply_tiled(fn: Callable[[torch.Tensor], torch.Tensor], image: torch.Tensor, tile: int | None, overlap: int = 16,
                scale: int = 1, device: torch.device | str = "cpu", join: str = "ramp") -> torch.Tensor:
    """fn: (1, C, h, w) -> (1, C', h*scale, w*scale) on `device`; image: (1, C, H, W) -> (1, C', H*scale, W*scale) on CPU.

    tile=None (or a tile larger than the image) runs the whole image at once. join: "ramp" or "cut" (see above).
    """
    if join not in ("ramp", "cut"):
        raise ValueError(f"join must be 'ramp' or 'cut', got {join!r}")
    _, _, height, width = image.shape
    if tile is None or (height <= tile and width <= tile):
        return fn(image.to(device)).cpu()
    if overlap >= tile:
        raise ValueError(f"tile overlap {overlap} must be smaller than the tile {tile}")
    out = weight = None
    ys, xs = _starts(height, tile, overlap), _starts(width, tile, overlap)
    for iy, y in enumerate(ys):
        for ix, x in enumerate(xs):
            patch = image[..., y:y + tile, x:x + tile]
            result = fn(patch.to(device)).cpu().float()
            h, w = patch.shape[-2] * scale, patch.shape[-1] * scale
            if out is None:
                out = torch.zeros(1, result.shape[1], height * scale, width * scale)
                weight = torch.zeros(1, 1, height * scale, width * scale)
            if join == "ramp":
                wy = _ramp(h, overlap * scale, y == ys[0], y == ys[-1])
                wx = _ramp(w, overlap * scale, x == xs[0], x == xs[-1])
            else:
                wy = _cut(ys, iy, min(tile, height)).repeat_interleave(scale)
                wx = _cut(xs, ix, min(tile, width)).repeat_interleave(scale)
            mask = (wy[:, None] * wx[None, :])[None, None]
            out[..., y * scale:y * scale + h, x * scale:x * scale + w] += result * mask
            weight[..., y * scale:y * scale + h, x * scale:x * scale + w] += mask
    return out / weight


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, int, int]:
    """Reflect-pad the bottom/right so H and W are multiples of `multiple`; returns the padding too."""
    pad_h, pad_w = (-x.shape[-2]) % multiple, (-x.shape[-1]) % multiple
    if pad_h or pad_w:
        mode = "reflect" if min(x.shape[-2:]) > max(pad_h, pad_w) else "replicate"
        x = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
    return x, pad_h, pad_w
