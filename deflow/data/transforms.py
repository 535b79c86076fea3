"""Crops and augmentations on (3, H, W) image tensors, with every random draw taken from a passed-in
`numpy.random.Generator` so that an item is a pure function of its seed.
"""
import numpy as np
import torch

from deflow.errors import UserError


def mod_crop(img: torch.Tensor, multiple: int, name: str = "image") -> torch.Tensor:
    """Crop (C, H, W) at the top-left so that H and W are multiples of `multiple`.

    An image smaller than `multiple` on a side is a UserError naming it (`name`, e.g. its path).
    """
    h, w = img.shape[-2:]
    if h < multiple or w < multiple:
        raise UserError(f"{name}: {w}x{h} is smaller than {multiple} px, the size every side must be a multiple of")
    return img[..., : h - h % multiple, : w - w % multiple]


def paired_random_crop(gt: torch.Tensor, lq: torch.Tensor, gt_size: int, scale: int,
                       rng: np.random.Generator, gt_path: str = "image") -> tuple[torch.Tensor, torch.Tensor]:
    """Crop `gt_size`² from gt (C, H, W) and the aligned (gt_size/scale)² from lq (C, H/scale, W/scale).

    The position is drawn on the LQ grid, so the GT crop starts at `scale` times the LQ position and
    covers exactly the LQ crop's pixels. `gt_path` names the image in the error for a too-small image.
    """
    if gt_size % scale:
        raise UserError(f"gt_size {gt_size} is not divisible by scale {scale}; choose a multiple of {scale}")
    lq_size = gt_size // scale
    h_lq, w_lq = lq.shape[-2:]
    h_gt, w_gt = gt.shape[-2:]
    if h_lq < lq_size or w_lq < lq_size or h_gt < h_lq * scale or w_gt < w_lq * scale:
        raise UserError(f"{gt_path}: {w_gt}x{h_gt} (LQ {w_lq}x{h_lq}) is smaller than the crop gt_size {gt_size} "
                        f"(LQ {lq_size}); lower gt_size or remove the image")
    top = int(rng.integers(0, h_lq - lq_size + 1))
    left = int(rng.integers(0, w_lq - lq_size + 1))
    lq = lq[..., top: top + lq_size, left: left + lq_size]
    gt = gt[..., top * scale: (top + lq_size) * scale, left * scale: (left + lq_size) * scale]
    return gt, lq


def augment(images: list[torch.Tensor], hflip: bool, rot: bool, rng: np.random.Generator) -> list[torch.Tensor]:
    """Apply one random flip / 90-degree rotation to every image of an item (all (C, H, W)).

    hflip: horizontal flip with probability 1/2. rot: vertical flip and H<->W transpose, each with
    probability 1/2, which with hflip gives all 8 rotations and mirrorings of a square.
    Three numbers are always drawn, so the stream of `rng` does not depend on the flags.
    """
    do_hflip, do_vflip, do_transpose = rng.random(3) < 0.5
    do_hflip = hflip and do_hflip
    do_vflip = rot and do_vflip
    do_transpose = rot and do_transpose
    out = []
    for img in images:
        if do_hflip:
            img = img.flip(-1)
        if do_vflip:
            img = img.flip(-2)
        if do_transpose:
            img = img.transpose(-2, -1)
        out.append(img.contiguous())
    return out
