"""SingleImageDataset: the images of one folder, for inference (SR of real LR images, translation)."""
from torch.utils.data import Dataset

from deflow.data.folders import ImageLoader, with_defaults
from deflow.imageio import list_images
from deflow.registry import DATASETS
from deflow.schema import REQUIRED, Key


@DATASETS.register()
class SingleImageDataset(Dataset):
    """Every image of `dataroot_lq`, whole, in name order. Items: {'lq': (3, H, W), 'lq_path': str}."""

    OPTIONS = {
        "dataroot_lq": Key(str, REQUIRED, "folder of input images"),
        "cache_images": Key(bool, False, "keep decoded images in memory (per worker process)"),
    }

    def __init__(self, opt: dict):
        self.opt = opt = with_defaults(self.OPTIONS, opt)
        self.paths = list_images(opt["dataroot_lq"])
        self.load = ImageLoader(opt["cache_images"])

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, k: int) -> dict:
        path = self.paths[k % len(self.paths)]
        return {"lq": self.load(path), "lq_path": str(path)}
