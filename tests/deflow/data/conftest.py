"""Small images for the data tests: photo crops and block images whose box-downsample is exact in 8 bit."""
import numpy as np
import pytest
import skimage.data
import torch

from deflow.imageio import write_image


def _photo(h: int, w: int, top: int = 0, left: int = 0) -> torch.Tensor:
    """(3, h, w) float crop of skimage's astronaut, values k / 255."""
    arr = skimage.data.astronaut()[top: top + h, left: left + w]
    return torch.from_numpy(arr).permute(2, 0, 1).float() / 255.0


def _blocks(h_lq: int, w_lq: int, scale: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(gt, lq): a random 8-bit LQ and its nearest-neighbour enlargement, so lq is gt's exact box-downsample."""
    rng = np.random.default_rng(seed)
    lq = torch.from_numpy(rng.integers(0, 256, (3, h_lq, w_lq))).float() / 255.0
    gt = lq.repeat_interleave(scale, dim=1).repeat_interleave(scale, dim=2)
    return gt, lq


@pytest.fixture
def photo():
    return _photo


@pytest.fixture
def blocks():
    return _blocks


@pytest.fixture
def pair_folders(tmp_path):
    """Write n block pairs (GT gt/<i>.png, LQ lq/<i>.png) of GT size (h, w) and return (gt_dir, lq_dir)."""
    def make(n: int = 3, h: int = 48, w: int = 64, scale: int = 4, name: str = "d", seed: int = 0):
        gt_dir, lq_dir = tmp_path / name / "gt", tmp_path / name / "lq"
        for i in range(n):
            gt, lq = _blocks(h // scale, w // scale, scale, seed=seed + i)
            write_image(gt_dir / f"{i:03d}.png", gt)
            write_image(lq_dir / f"{i:03d}.png", lq)
        return gt_dir, lq_dir
    return make
