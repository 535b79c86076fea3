"""Test images: 8-bit photo pairs cut from skimage.data."""
import numpy as np
import torch
from skimage import data


def photo_pair(name: str, height: int, width: int, seed: int = 0, noise: int = 25) -> tuple[np.ndarray, np.ndarray]:
    """(gt, pred) uint8 RGB (H, W, 3): a crop of a skimage photo and a noisy copy of it."""
    gt = getattr(data, name)()[:height, :width]
    rng = np.random.default_rng(seed)
    pred = np.clip(gt.astype(np.int16) + rng.integers(-noise, noise + 1, gt.shape), 0, 255).astype(np.uint8)
    return gt, pred


def to_tensor(img: np.ndarray) -> torch.Tensor:
    """uint8 (H, W, 3) -> float32 (3, H, W) in [0, 1], as deflow.imageio.read_image gives."""
    return torch.from_numpy(img).permute(2, 0, 1).float() / 255.0
