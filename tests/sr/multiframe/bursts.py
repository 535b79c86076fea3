"""Small synthetic bursts and configs the multi-frame tests share."""
from pathlib import Path

import torch
import yaml

from degradations.camera import Camera
from sr.multiframe.synth import synthesize_burst


def photo_crop(size: int = 112, name: str = "chelsea") -> torch.Tensor:
    from deflow.tools.sample_photos import photo

    return photo(name)[:, 40:40 + size, 90:90 + size].contiguous()


def camera_burst(frames: int = 8, size: int = 112, seed: int = 0):
    return synthesize_burst(photo_crop(size), frames, Camera(), torch.Generator().manual_seed(seed))


def write_tiny_burst_hybrid_config(tmp_path: Path) -> Path:
    """A BurstHybridModel of a 1-block refiner on 4-frame bursts of 32 px crops of two photos, a pool of 4 training
    bursts fused once each (num_bursts, train.fusion_cache); well under a second per iteration."""
    from deflow.imageio import write_image
    from deflow.tools.sample_photos import photo

    for folder, names in (("train", ["astronaut", "coffee"]), ("val", ["chelsea"])):
        for name in names:
            write_image(tmp_path / "photos" / folder / f"{name}.png", photo(name)[:, 100:196, 120:216])
    opt = {
        "name": "tiny_burst", "model_type": "BurstHybridModel", "scale": 2, "num_gpu": 0, "manual_seed": 1,
        "datasets": {
            "train": {"type": "SyntheticBurstDataset", "dataroot_gt": str(tmp_path / "photos/train"), "gt_size": 32,
                      "burst_size": 4, "num_bursts": 4, "batch_size_per_gpu": 2},
            "val": {"type": "SyntheticBurstDataset", "dataroot_gt": str(tmp_path / "photos/val"), "gt_size": 48,
                    "burst_size": 4},
        },
        "network_f": {"type": "ShiftAndAdd"},
        "network_g": {"type": "BurstRefiner", "num_feat": 8, "num_block": 1, "num_grow_ch": 4},
        "path": {"experiments_root": str(tmp_path / "exp")},
        "train": {"total_iter": 4, "optim_g": {"type": "Adam", "lr": 1e-3}, "ema_decay": 0.9, "fusion_cache": 4},
        "val": {"val_freq": 4, "metrics": ["psnr", "ssim"]},
        "logger": {"print_freq": 2, "save_checkpoint_freq": 4, "use_tb_logger": False},
    }
    path = tmp_path / "tiny_burst.yml"
    path.write_text(yaml.safe_dump(opt))
    return path
