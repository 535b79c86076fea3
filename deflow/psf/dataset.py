"""PSFCalibrationDataset: (sharp, blurred) photographs of calibration targets by one camera, for degradation
transfer. The field is tied to the position in the frame, so images are never flipped or rotated, and a crop
carries where it lies."""
import torch
from torch.utils.data import Dataset

from deflow.data.folders import ImageLoader, check_min_size, is_train, item_rng, pair_by_name, with_defaults
from deflow.errors import UserError
from deflow.imageio import image_size
from deflow.registry import DATASETS
from deflow.schema import REQUIRED, Key


@DATASETS.register()
class PSFCalibrationDataset(Dataset):
    """The ideal (sharp) renderings of the targets in `dataroot_sharp` and the camera's photos of them in
    `dataroot_blurred`, matched by name, all of one size (the sensor's).

    Train phase with `crop_size`: a random crop drawn from (manual_seed, k); else whole images.
    Items: {'sharp': (3, h, w), 'blurred': (3, h, w), 'region': (4,) long tensor (top, left, H, W), 'name': str}.
    """

    OPTIONS = {
        "dataroot_sharp": Key(str, REQUIRED, "folder of ideal renderings of the calibration targets"),
        "dataroot_blurred": Key(str, REQUIRED, "folder of the camera's photos of them, same names, aligned"),
        "crop_size": Key((int, type(None)), None, "train crop side in px (null: whole images)", minimum=8),
        "cache_images": Key(bool, True, "keep decoded images in memory"),
    }

    def __init__(self, opt: dict):
        self.opt = opt = with_defaults(self.OPTIONS, opt)
        self.pairs = pair_by_name(opt["dataroot_sharp"], opt["dataroot_blurred"])
        sizes = {path: image_size(path) for pair in self.pairs for path in pair}
        first = self.pairs[0][0]
        odd = next((path for path, size in sizes.items() if size != sizes[first]), None)
        if odd is not None:
            (h, w), (oh, ow) = sizes[first], sizes[odd]
            raise UserError(f"{odd}: is {ow}x{oh} but {first} is {w}x{h}; calibration images must all have one size "
                            "(the sensor's)")
        self.size = sizes[first]
        self.crop = opt["crop_size"] if is_train(opt) else None
        if self.crop:
            check_min_size(first, self.size, self.crop, "crop_size")
        self.load = ImageLoader(opt["cache_images"])

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, k: int) -> dict:
        sharp_path, blurred_path = self.pairs[k % len(self.pairs)]
        sharp, blurred = self.load(sharp_path), self.load(blurred_path)
        h, w = self.size
        top = left = 0
        if self.crop:
            rng = item_rng(self.opt, k)
            top, left = int(rng.integers(0, h - self.crop + 1)), int(rng.integers(0, w - self.crop + 1))
            sharp = sharp[:, top:top + self.crop, left:left + self.crop]
            blurred = blurred[:, top:top + self.crop, left:left + self.crop]
        return {"sharp": sharp, "blurred": blurred, "region": torch.tensor([top, left, h, w]),
                "name": sharp_path.stem}
