"""A tiny DASR x2 config (width 8, one DA block, a 16-key queue) on 64 px crops of skimage photos."""
from pathlib import Path

import pytest
import yaml

from tests.conftest import write_pairs


def write_tiny_dasr_config(tmp_path: Path, model_type: str = "DASRModel") -> Path:
    """The config's files under `tmp_path`; returns its path. 8 iterations, stage 1 = the first 4."""
    gt, _ = write_pairs(tmp_path / "dasr_hr", 3, 64, 2)
    opt = {
        "name": "tiny_dasr", "model_type": model_type, "scale": 2, "num_gpu": 0, "manual_seed": 5,
        "datasets": {"train": {"type": "HRPatchesDataset", "dataroot_gt": str(gt), "gt_size": 24, "patches": 2,
                               "batch_size_per_gpu": 2}},
        "network_g": {"type": "DASRNet", "n_groups": 1, "n_blocks": 1, "n_feats": 8, "rep_dim": 16,
                      "rep_channels": 8},
        "network_e": {"type": "DASREncoder", "widths": [8, 8, 16, 16, 16, 16], "proj_dim": 16},
        "path": {"experiments_root": str(tmp_path / "dasr_exp")},
        "train": {"total_iter": 8, "encoder_iters": 4, "degradation": "dasr_aniso_noise",
                  "moco": {"queue_size": 16, "momentum": 0.9, "temperature": 0.07},
                  "optim_g": {"type": "Adam", "lr": 1e-3}, "optim_e": {"type": "Adam", "lr": 1e-3},
                  "scheduler_e": {"type": "MultiStepLR", "milestones": [3], "gamma": 0.1},
                  "scheduler_g": {"type": "MultiStepLR", "milestones": [6], "gamma": 0.5}},
        "logger": {"print_freq": 2, "save_checkpoint_freq": 4, "use_tb_logger": False},
    }
    if model_type == "BlindSRModel":
        del opt["network_e"], opt["train"]["encoder_iters"], opt["train"]["moco"], opt["train"]["optim_e"]
        del opt["train"]["scheduler_e"], opt["train"]["scheduler_g"]
        opt["network_g"] = {"type": "RRDBNet", "num_feat": 8, "num_block": 1, "num_grow_ch": 4}
    path = tmp_path / f"tiny_{model_type}.yml"
    path.write_text(yaml.safe_dump(opt))
    return path


@pytest.fixture
def tiny_dasr_config(tmp_path) -> Path:
    return write_tiny_dasr_config(tmp_path)


@pytest.fixture
def tiny_blindsr_config(tmp_path) -> Path:
    return write_tiny_dasr_config(tmp_path, "BlindSRModel")
