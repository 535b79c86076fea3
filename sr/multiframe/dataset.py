"""SyntheticBurstDataset: bursts made on the fly from HR photos (sr/multiframe/synth.py), so the GT is exact."""
import torch
from torch.utils.data import Dataset

from deflow.data.folders import ImageLoader, check_min_size, is_train, item_rng, train_crop_size, with_defaults
from deflow.data.transforms import augment
from deflow.errors import UserError
from deflow.imageio import image_size, list_images
from deflow.registry import DATASETS
from deflow.schema import REQUIRED, Key
from degradations.camera import Camera, CameraParams
from sr.multiframe.synth import margin_for, synthesize_burst


@DATASETS.register()
class SyntheticBurstDataset(Dataset):
    """Bursts of `burst_size` frames of crops of the photos in `dataroot_gt`, through the benchmark camera
    (`camera`: CameraParams fields; its scale is the dataset's).

    Train phase: a random crop (gt_size plus the motion margin) with flips / rotations, a random burst; all drawn
    from (manual_seed, k), with k taken modulo `num_bursts` when that is set (a fixed pool of training bursts that
    repeats every num_bursts samples, so that BurstHybridModel fuses each once: its train.fusion_cache). Val phase:
    the centre crop (gt_size, or the whole photo if null), one fixed burst per photo. Items: {'lq': (T, 3, h, w),
    or (3, h, w) the reference frame alone with single_frame, 'gt': (3, h * scale, w * scale), 'lq_path',
    'gt_path': the photo's path}.
    """

    OPTIONS = {
        "dataroot_gt": Key(str, REQUIRED, "folder of HR photos"),
        "gt_size": Key((int, type(None)), None, "GT crop size (a multiple of scale); required in train"),
        "burst_size": Key(int, 8, "frames per burst, the reference included", minimum=1),
        "max_shift": Key(float, 4.0, "largest translation per axis, HR pixels", minimum=0),
        "max_rotation": Key(float, 1.0, "largest rotation, degrees", minimum=0),
        "camera": Key(dict, {}, "CameraParams fields (degradations/camera.py); scale comes from the dataset"),
        "single_frame": Key(bool, False, "give the reference frame alone, (3, h, w): pairs for a single-image SR model"),
        "use_hflip": Key(bool, True, "random horizontal flips (train)"),
        "use_rot": Key(bool, True, "random vertical flips and 90-degree rotations (train)"),
        "cache_images": Key(bool, False, "keep decoded photos in memory (per worker process)"),
        "num_bursts": Key((int, type(None)), None, "train: a fixed pool of this many bursts, sample k being burst "
                          "k mod num_bursts; null: a new burst for every sample", minimum=1),
    }

    def __init__(self, opt: dict):
        self.opt = opt = with_defaults(self.OPTIONS, opt)
        self.scale = opt["scale"]
        if "scale" in opt["camera"] and opt["camera"]["scale"] != self.scale:
            raise UserError(f"camera.scale ({opt['camera']['scale']}) disagrees with scale ({self.scale}); "
                            "set only the top-level scale")
        self.camera = Camera(CameraParams.from_dict({**opt["camera"], "scale": self.scale}))
        self.paths = list_images(opt["dataroot_gt"])
        self.gt_size = train_crop_size(opt, self.scale, "the LR crop is gt_size / scale") if is_train(opt) else None
        if not is_train(opt) and opt["gt_size"] is not None and opt["gt_size"] % self.scale:
            raise UserError(f"gt_size {opt['gt_size']} must be a multiple of scale {self.scale}")
        crop = self.gt_size or opt["gt_size"]
        self.margin = margin_for(crop or 0, opt["max_shift"], opt["max_rotation"], self.scale)
        for path in self.paths:
            if crop:
                check_min_size(path, image_size(path), crop + 2 * self.margin, "gt_size plus the motion margin")
        self.load = ImageLoader(opt["cache_images"])

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, k: int) -> dict:
        if self.gt_size and self.opt["num_bursts"]:
            k %= self.opt["num_bursts"]
        path = self.paths[k % len(self.paths)]
        photo = self.load(path)
        rng = item_rng(self.opt, k)
        size = self.gt_size or self.opt["gt_size"]
        if size is None:
            side_h, side_w = photo.shape[-2:]
        else:
            side_h = side_w = size + 2 * self.margin
        h, w = photo.shape[-2:]
        if self.gt_size:
            top, left = int(rng.integers(0, h - side_h + 1)), int(rng.integers(0, w - side_w + 1))
        else:
            top, left = (h - side_h) // 2, (w - side_w) // 2
        crop = photo[:, top:top + side_h, left:left + side_w]
        if self.gt_size:
            (crop,) = augment([crop], self.opt["use_hflip"], self.opt["use_rot"], rng)
        generator = torch.Generator().manual_seed(int(rng.integers(0, 2 ** 62)))
        burst = synthesize_burst(crop.contiguous(), self.opt["burst_size"], self.camera, generator,
                                 self.opt["max_shift"], self.opt["max_rotation"])
        lq = burst.frames[0] if self.opt["single_frame"] else burst.frames
        return {"lq": lq, "gt": burst.gt, "lq_path": str(path), "gt_path": str(path)}
