"""PSFPairDataset: training pairs made on the fly with a PSF field file (the transferred degradation): clean sRGB
photos -> unprocess -> the field's blur (cached per image, whole frame) -> sensor noise -> process."""
import torch
from torch.utils.data import Dataset

from deflow.data.folders import ImageLoader, check_min_size, is_train, item_rng, with_defaults
from deflow.imageio import image_size, list_images
from deflow.psf.synthetic import build_isp
from deflow.registry import DATASETS
from deflow.schema import REQUIRED, Key
from degradations.isp import process, unprocess
from degradations.noise import heteroscedastic_gaussian_noise
from degradations.psf import apply_psf_field, load_psf_field
from sr.psf.wiener import coordinate_maps


@DATASETS.register()
class PSFPairDataset(Dataset):
    """Every image of `dataroot_gt` (framed like the sensor: the field covers the whole image) and its degraded
    version. Train phase: a gt_size crop at a position drawn from (manual_seed, k), fresh noise per item; val: whole
    images, noise seeded by the image index. Items: {'lq', 'gt': (3, h, w), 'coords': (2, h, w), 'lq_path'}."""

    OPTIONS = {
        "dataroot_gt": Key(str, REQUIRED, "folder of clean photos"),
        "psf_field": Key(str, REQUIRED, "the PSF field file that degrades them"),
        "isp": Key((str, type(None)), "chen_phone", "camera ISP around the blur and noise (chen_phone or none)"),
        "shot": Key(float, 1.0e-4, "shot-noise variance per unit linear signal", minimum=0),
        "read": Key(float, 1.0e-6, "read-noise variance", minimum=0),
        "gt_size": Key((int, type(None)), None, "train crop side (px)"),
    }

    def __init__(self, opt: dict):
        self.opt = opt = with_defaults(self.OPTIONS, opt)
        self.paths = list_images(opt["dataroot_gt"])
        self.field = load_psf_field(opt["psf_field"])[0]
        self.isp = build_isp(opt["isp"])
        self.load = ImageLoader(True)
        self.blurred: dict[int, torch.Tensor] = {}
        self.train = is_train(opt) and opt["gt_size"]
        if self.train:
            for path in self.paths:
                check_min_size(path, image_size(path), opt["gt_size"], "gt_size")

    def __len__(self) -> int:
        return len(self.paths)

    def _blurred_linear(self, index: int, gt: torch.Tensor) -> torch.Tensor:
        if index not in self.blurred:
            lin = unprocess(gt[None], self.isp) if self.isp is not None else gt[None]
            self.blurred[index] = apply_psf_field(lin, self.field)[0]
        return self.blurred[index]

    def __getitem__(self, k: int) -> dict:
        index = k % len(self.paths)
        gt = self.load(self.paths[index])
        blurred = self._blurred_linear(index, gt)
        h, w = gt.shape[-2:]
        rng = item_rng(self.opt, k if self.train else index)
        top = left = 0
        if self.train:
            size = self.opt["gt_size"]
            top, left = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
            gt, blurred = (t[:, top:top + size, left:left + size] for t in (gt, blurred))
        g = torch.Generator().manual_seed(int(rng.integers(2 ** 62)))
        noisy = heteroscedastic_gaussian_noise(blurred[None], self.opt["shot"], self.opt["read"], generator=g).clamp(0, 1)
        lq = process(noisy, self.isp)[0] if self.isp is not None else noisy[0]
        coords = coordinate_maps(*gt.shape[-2:], (top, left, h, w))[0]
        return {"lq": lq, "gt": gt, "coords": coords, "lq_path": str(self.paths[index])}
