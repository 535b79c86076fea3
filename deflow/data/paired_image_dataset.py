"""PairedImageDataset: (LQ, GT) image pairs from two folders, matched by file name (BasicSR's layout)."""
from torch.utils.data import Dataset

from deflow.data.folders import (ImageLoader, check_min_size, check_scale, is_train, item_rng, pair_by_name,
                                 train_crop_size, with_defaults)
from deflow.data.transforms import augment, paired_random_crop
from deflow.registry import DATASETS
from deflow.schema import REQUIRED, Key


@DATASETS.register()
class PairedImageDataset(Dataset):
    """GT images and their LQ versions, `scale` times smaller, for supervised SR.

    Train phase: an aligned random crop (gt_size, gt_size / scale) and flips / rotations, all drawn
    from (manual_seed, k). Val phase: whole images. Every pair's sizes are checked when the dataset
    is built (from the file headers), so a wrong scale or a missing partner fails before training.
    Items: {'lq': (3, h, w), 'gt': (3, h*scale, w*scale), 'lq_path': str, 'gt_path': str}.
    """

    OPTIONS = {
        "dataroot_gt": Key(str, REQUIRED, "folder of GT (high-resolution) images"),
        "dataroot_lq": Key(str, REQUIRED, "folder of LQ images, `scale` times smaller than their GT"),
        "filename_tmpl": Key(str, "{}", "LQ file stem from the GT stem, e.g. '{}x4' pairs 0001.png with 0001x4.png"),
        "gt_size": Key((int, type(None)), None, "GT crop size for training (a multiple of scale); required in train"),
        "use_hflip": Key(bool, True, "random horizontal flips (train)"),
        "use_rot": Key(bool, True, "random vertical flips and 90-degree rotations (train)"),
        "cache_images": Key(bool, False, "keep decoded images in memory (per worker process)"),
    }

    def __init__(self, opt: dict):
        self.opt = opt = with_defaults(self.OPTIONS, opt)
        self.scale = opt["scale"]
        self.pairs = pair_by_name(opt["dataroot_gt"], opt["dataroot_lq"], opt["filename_tmpl"])
        self.gt_size = train_crop_size(opt, self.scale, "the LQ crop is gt_size / scale") if is_train(opt) else None
        for gt, lq in self.pairs:
            size = check_scale(gt, lq, self.scale)
            if self.gt_size:
                check_min_size(gt, size, self.gt_size, "gt_size")
        self.load = ImageLoader(opt["cache_images"])

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, k: int) -> dict:
        gt_path, lq_path = self.pairs[k % len(self.pairs)]
        gt, lq = self.load(gt_path), self.load(lq_path)
        if self.gt_size:
            rng = item_rng(self.opt, k)
            gt, lq = paired_random_crop(gt, lq, self.gt_size, self.scale, rng, str(gt_path))
            gt, lq = augment([gt, lq], self.opt["use_hflip"], self.opt["use_rot"], rng)
        return {"lq": lq, "gt": gt, "lq_path": str(lq_path), "gt_path": str(gt_path)}
