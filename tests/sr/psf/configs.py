"""Tiny configs of the two trained PSF model types on a small synthetic camera, for tests that train them."""
from pathlib import Path

import yaml

from deflow.config import apply_override, load_yaml_with_includes
from deflow.psf.cli import synth

ROOT = Path(__file__).resolve().parents[3]


def write_tiny_psf_config(tmp_path: Path, model_type: str) -> Path:
    """confs/cpu/psf-transfer.yml (PSFTransferModel) or psf-fovkpn.yml (PSFRestoreModel) shrunk to a 2 x 3 field on
    48 x 64 images and 4 iterations; returns the written config's path."""
    data = tmp_path / "psf_synth"
    if not data.exists():
        synth(data, size=(48, 64), grid=(2, 3), targets=2, kernel_sizes=(5, 7, 7))
    if model_type == "PSFTransferModel":
        sharp, blurred = data / "calib/sharp", data / "calib/blurred"
        source, sets = "psf-transfer.yml", [
            f"datasets.train.dataroot_sharp={sharp}", f"datasets.train.dataroot_blurred={blurred}",
            f"datasets.val.dataroot_sharp={sharp}", f"datasets.val.dataroot_blurred={blurred}",
            "datasets.train.crop_size=32", "network_g.grid=[2,3]", "network_g.kernel_sizes=[5,7,7]"]
    else:
        photos, field = data / "heldout/sharp", data / "planted.safetensors"
        source, sets = "psf-fovkpn.yml", [
            f"datasets.train.dataroot_gt={photos}", f"datasets.train.psf_field={field}",
            f"datasets.val.dataroot_gt={photos}", f"datasets.val.psf_field={field}",
            "datasets.train.gt_size=32", "network_g.num_feat=4", "network_g.deform_groups=1"]
    opt = load_yaml_with_includes(ROOT / "confs/cpu" / source)
    for assignment in [*sets, "train.total_iter=4", "train.scheduler.milestones=[2]", "logger.save_checkpoint_freq=2",
                       f"path.experiments_root={tmp_path / 'psf_exp'}"]:
        apply_override(opt, assignment)
    path = tmp_path / f"tiny_{model_type}.yml"
    path.write_text(yaml.safe_dump(opt))
    return path
