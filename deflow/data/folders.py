"""What the folder datasets share: per-item random generators, image loading with an optional
in-memory cache, pairing GT and LQ files by name, and size checks that name the offending file.
"""
from pathlib import Path

import numpy as np
import torch

from deflow.errors import UserError
from deflow.imageio import image_size, list_images, read_image
from deflow.schema import REQUIRED, Key


def with_defaults(options: dict[str, Key], opt: dict) -> dict:
    """`opt` with the defaults of a dataset's OPTIONS filled in, so it can also be built without the config code."""
    missing = [key for key, spec in options.items() if spec.default is REQUIRED and key not in opt]
    if missing:
        raise UserError(f"dataset {opt.get('name', '?')!r}: missing required option {missing[0]!r} "
                        f"({options[missing[0]].doc})")
    return {**{key: spec.default for key, spec in options.items() if spec.default is not REQUIRED}, **opt}


def item_rng(opt: dict, k: int) -> np.random.Generator:
    """The generator for sample k: all of an item's randomness, a pure function of (manual_seed, k).

    k is unique over the whole run (the sampler yields epoch * n + position), so two epochs see
    different crops of the same image, and a resumed run sees the same crops as an unbroken one.
    """
    return np.random.default_rng((opt.get("manual_seed") or 0, int(k)))


def is_train(opt: dict) -> bool:
    return opt.get("phase", "train") == "train"


class ImageLoader:
    """read_image, keeping each decoded image in memory when `cache` is true.

    A cached image is handed out as a copy, so a caller that edits it in place cannot change the
    cache. With DataLoader workers every worker process fills its own cache.
    """

    def __init__(self, cache: bool = False):
        self.cache = cache
        self._images: dict[Path, torch.Tensor] = {}

    def __call__(self, path: Path) -> torch.Tensor:
        if not self.cache:
            return read_image(path)
        if path not in self._images:
            self._images[path] = read_image(path)
        return self._images[path].clone()


def pair_by_name(gt_folder: str, lq_folder: str, filename_tmpl: str = "{}") -> list[tuple[Path, Path]]:
    """(gt, lq) paths for every image of gt_folder; the LQ stem is filename_tmpl.format(gt stem), any suffix."""
    lq_by_stem: dict[str, Path] = {}
    for path in list_images(lq_folder):
        if path.stem in lq_by_stem:
            raise UserError(f"{path}: two LQ images named {path.stem!r} ({lq_by_stem[path.stem].name}, {path.name}); "
                            "keep one")
        lq_by_stem[path.stem] = path
    pairs = []
    for gt in list_images(gt_folder):
        try:
            stem = filename_tmpl.format(gt.stem)
        except (IndexError, KeyError, ValueError):
            raise UserError(f"filename_tmpl {filename_tmpl!r} is not a format string with one '{{}}'; "
                            "write e.g. '{}x4'") from None
        if stem not in lq_by_stem:
            raise UserError(f"{gt}: no LQ partner named {stem}.* in {lq_folder}; add it or remove the GT image "
                            f"(filename_tmpl is {filename_tmpl!r})")
        pairs.append((gt, lq_by_stem[stem]))
    return pairs


def check_scale(gt: Path, lq: Path, scale: int) -> tuple[int, int]:
    """The GT (H, W), after checking it is exactly `scale` times the LQ size; a mismatch names both files."""
    h_gt, w_gt = image_size(gt)
    h_lq, w_lq = image_size(lq)
    if (h_gt, w_gt) != (h_lq * scale, w_lq * scale):
        raise UserError(f"{gt}: GT is {w_gt}x{h_gt} but its LQ {lq} is {w_lq}x{h_lq}; with scale {scale} the GT must be "
                        f"{w_lq * scale}x{h_lq * scale} (fix the files or the scale)")
    return h_gt, w_gt


def check_min_size(path: Path, size: tuple[int, int], minimum: int, what: str) -> None:
    h, w = size
    if h < minimum or w < minimum:
        raise UserError(f"{path}: {w}x{h} is smaller than {what} ({minimum} px); remove the image or lower it")


def train_crop_size(opt: dict, multiple: int, why: str) -> int:
    """The validated `gt_size` for a train-phase dataset: present and a multiple of `multiple` (`why` says why)."""
    gt_size = opt.get("gt_size")
    if gt_size is None:
        raise UserError(f"dataset {opt.get('name', '?')!r}: gt_size is required for training; set the GT crop size, "
                        "e.g. gt_size: 160")
    if gt_size <= 0 or gt_size % multiple:
        raise UserError(f"gt_size {gt_size} must be a positive multiple of {multiple} ({why})")
    return gt_size
