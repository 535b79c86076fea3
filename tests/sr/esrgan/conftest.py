"""An ESRGAN config with ESRGAN's own discriminator: VGGStyleDiscriminator on 128 px GT crops (x2, tiny widths)."""
from pathlib import Path

import pytest
import yaml

from tests.conftest import write_pairs


@pytest.fixture
def vgg_esrgan_config(tmp_path) -> Path:
    gt, lq = write_pairs(tmp_path / "train128", 2, 128, 2)
    opt = {
        "name": "vgg_esrgan", "model_type": "ESRGANModel", "scale": 2, "num_gpu": 0, "manual_seed": 1,
        "datasets": {"train": {"type": "PairedImageDataset", "dataroot_gt": str(gt), "dataroot_lq": str(lq),
                               "gt_size": 128, "batch_size_per_gpu": 2}},
        "network_g": {"type": "RRDBNet", "num_feat": 8, "num_block": 1, "num_grow_ch": 4},
        "network_d": {"type": "VGGStyleDiscriminator", "num_feat": 4, "input_size": 128},
        "path": {"experiments_root": str(tmp_path / "vgg_exp")},
        "train": {"total_iter": 2, "optim_g": {"type": "Adam", "lr": 1e-3}, "optim_d": {"type": "Adam", "lr": 1e-3},
                  "ema_decay": 0.9, "pixel_opt": {"type": "L1Loss", "loss_weight": 1e-2},
                  "gan_opt": {"type": "GANLoss", "gan_type": "ragan", "loss_weight": 5e-3}},
        "logger": {"print_freq": 1, "save_checkpoint_freq": 1, "use_tb_logger": False},
    }
    path = tmp_path / "vgg_esrgan.yml"
    path.write_text(yaml.safe_dump(opt))
    return path
