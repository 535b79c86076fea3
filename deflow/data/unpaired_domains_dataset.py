"""UnpairedDomainsDataset: DeFlow's training data, two unpaired image domains with labels.

Domain 0 is clean (X), domain 1 is degraded (Y). Each domain is a pair of folders written by
`create_dataset.py`: the flow input (GT) and the same images `scale` times smaller (LQ), which the
conditioning network h reads. NTIRE / DPED: clean `4x/` with `16x/`, degraded `1x/` with `4x/` (scale 4).
"""
import torch
from torch.utils.data import Dataset

from deflow.data.colour_normalization import ColourNormalization
from deflow.data.folders import (ImageLoader, check_min_size, check_scale, is_train, item_rng, pair_by_name,
                                 train_crop_size, with_defaults)
from deflow.data.transforms import augment, mod_crop, paired_random_crop
from deflow.errors import UserError
from deflow.flow.flownet import flow_size_multiple
from deflow.registry import DATASETS
from deflow.schema import REQUIRED, Key

CLEAN, DEGRADED = 0, 1


@DATASETS.register()
class UnpairedDomainsDataset(Dataset):
    """Clean and degraded images, class-balanced: each domain is exactly half of every epoch.

    Train phase: len = 2 * max(n_clean, n_degraded); item i < len/2 is clean image i % n_clean, item
    i >= len/2 is degraded image (i - len/2) % n_degraded; the smaller domain repeats. An aligned
    random crop (gt_size, gt_size / scale) and flips are drawn from (manual_seed, k).
    Val phase: every image once (clean first), whole, mod-cropped to `size_multiple` (GT) and
    `size_multiple / scale` (LQ), so a batch of one goes through the flow as is.
    Items: {'gt': flow input (3, H, W), 'lq': conditioning (3, H/scale, W/scale),
    'label': tensor 0 (clean) or 1 (degraded), 'gt_path': str, 'lq_path': str}.
    """

    FROM_NETWORK = {"flow_levels": "L"}  # dataset key -> the network_g key whose value the config copies into it
    OPTIONS = {
        "dataroot_clean_gt": Key(str, REQUIRED, "clean domain, flow input images (e.g. clean/4x)"),
        "dataroot_clean_lq": Key(str, REQUIRED, "clean domain, the same images `scale` times smaller (e.g. clean/16x)"),
        "dataroot_degraded_gt": Key(str, REQUIRED, "degraded domain, flow input images (e.g. degraded/1x)"),
        "dataroot_degraded_lq": Key(str, REQUIRED, "degraded domain, `scale` times smaller (e.g. degraded/4x)"),
        "gt_size": Key((int, type(None)), None, "flow-input crop size for training (a multiple of size_multiple)"),
        "use_hflip": Key(bool, True, "random horizontal flips (train)"),
        "use_rot": Key(bool, False, "random vertical flips and 90-degree rotations (train; DeFlow uses none)"),
        "cache_images": Key(bool, False, "keep decoded images in memory (per worker process)"),
        "normalize": Key((dict, type(None)), None,
                         "AIM colour normalisation {clean_mean, clean_std, degraded_mean, degraded_std}: 3 numbers each"),
        "flow_levels": Key(int, 3, "squeeze levels L of the flow, set from network_g.L; sides are multiples of 2^L"),
        "size_multiple": Key((int, type(None)), None,
                             "side multiple for val images and train crops; default lcm(2^flow_levels, 2*scale)"),
    }

    def __init__(self, opt: dict):
        self.opt = opt = with_defaults(self.OPTIONS, opt)
        self.scale = scale = opt["scale"]
        self.multiple = opt["size_multiple"] or flow_size_multiple(scale, opt["flow_levels"])
        if self.multiple % scale:
            raise UserError(f"size_multiple {self.multiple} is not divisible by scale {scale}; choose a multiple of "
                            f"{flow_size_multiple(scale, opt['flow_levels'])}")
        self.train = is_train(opt)
        self.gt_size = train_crop_size(opt, self.multiple, "size_multiple: the flow's squeezes and the scale") \
            if self.train else None
        minimum, what = (self.gt_size, "gt_size") if self.train else (self.multiple, "size_multiple")
        self.domains = []
        for prefix in ("clean", "degraded"):
            pairs = pair_by_name(opt[f"dataroot_{prefix}_gt"], opt[f"dataroot_{prefix}_lq"])
            for gt, lq in pairs:
                check_min_size(gt, check_scale(gt, lq, scale), minimum, what)
            self.domains.append(pairs)
        self.normalize = ColourNormalization(opt["normalize"]) if opt["normalize"] is not None else None
        self.load = ImageLoader(opt["cache_images"])

    @property
    def half(self) -> int:
        return max(len(pairs) for pairs in self.domains)

    def __len__(self) -> int:
        if self.train:
            return 2 * self.half
        return sum(len(pairs) for pairs in self.domains)

    def locate(self, i: int) -> tuple[int, int]:
        """(label, index within that domain) of item i, 0 <= i < len(self)."""
        n_clean, n_degraded = (len(pairs) for pairs in self.domains)
        if self.train:
            return (CLEAN, i % n_clean) if i < self.half else (DEGRADED, (i - self.half) % n_degraded)
        return (CLEAN, i) if i < n_clean else (DEGRADED, i - n_clean)

    def __getitem__(self, k: int) -> dict:
        label, index = self.locate(k % len(self))
        gt_path, lq_path = self.domains[label][index]
        gt, lq = self.load(gt_path), self.load(lq_path)
        if self.train:
            rng = item_rng(self.opt, k)
            gt, lq = paired_random_crop(gt, lq, self.gt_size, self.scale, rng, str(gt_path))
            gt, lq = augment([gt, lq], self.opt["use_hflip"], self.opt["use_rot"], rng)
        else:
            gt = mod_crop(gt, self.multiple, str(gt_path))
            lq = mod_crop(lq, self.multiple // self.scale, str(lq_path))
        if label == DEGRADED and self.normalize is not None:
            gt, lq = self.normalize(gt), self.normalize(lq)
        return {"gt": gt, "lq": lq, "label": torch.tensor(label), "gt_path": str(gt_path), "lq_path": str(lq_path)}
