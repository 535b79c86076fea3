"""HRPatchesDataset: random HR crops only, several per image, for models that degrade HR online (DASR)."""
import torch
from torch.utils.data import Dataset

from deflow.data.folders import ImageLoader, check_min_size, item_rng, train_crop_size, with_defaults
from deflow.data.transforms import augment
from deflow.imageio import image_size, list_images
from deflow.registry import DATASETS
from deflow.schema import REQUIRED, Key


@DATASETS.register()
class HRPatchesDataset(Dataset):
    """`patches` independent random crops of `gt_size` from one HR image per item, all with the same flip / rotation
    (DASR draws two crops of each image after one dihedral augmentation of the whole image; official `data/df2k.py`).
    Items: {'gt': (patches, 3, gt_size, gt_size), 'gt_path': str}; all randomness from (manual_seed, k)."""

    OPTIONS = {
        "dataroot_gt": Key(str, REQUIRED, "folder of HR images"),
        "gt_size": Key((int, type(None)), None, "HR crop size (a multiple of scale; DASR: 48 x scale); required"),
        "patches": Key(int, 2, "crops per image (DASR: 2, the query and the key of the contrastive loss)", minimum=1),
        "use_hflip": Key(bool, True, "random horizontal flips"),
        "use_rot": Key(bool, True, "random vertical flips and 90-degree rotations"),
        "cache_images": Key(bool, False, "keep decoded images in memory (per worker process)"),
    }

    def __init__(self, opt: dict):
        self.opt = opt = with_defaults(self.OPTIONS, opt)
        self.gt_size = train_crop_size(opt, opt.get("scale", 1), "the LR crop is gt_size / scale")
        self.paths = list_images(opt["dataroot_gt"])
        for path in self.paths:
            check_min_size(path, image_size(path), self.gt_size, "gt_size")
        self.load = ImageLoader(opt["cache_images"])

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, k: int) -> dict:
        path = self.paths[k % len(self.paths)]
        img, rng, size = self.load(path), item_rng(self.opt, k), self.gt_size
        h, w = img.shape[-2:]
        crops = []
        for _ in range(self.opt["patches"]):
            top, left = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
            crops.append(img[:, top:top + size, left:left + size])
        crops = augment(crops, self.opt["use_hflip"], self.opt["use_rot"], rng)
        return {"gt": torch.stack(crops), "gt_path": str(path)}
