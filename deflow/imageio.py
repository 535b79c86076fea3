"""Image files <-> tensors: the one edge where OpenCV's BGR uint8/uint16 meets deflow's float RGB.

Inside deflow an image is a float32 RGB tensor in [0, 1], shape (3, H, W) or (N, 3, H, W).
Reading rules: 8- and 16-bit files are scaled by 255 and 65535; grayscale is repeated to RGB;
RGBA is alpha-composited over a white background (transparent pixels become white).
"""
import os
from pathlib import Path

import cv2
import numpy as np
import torch

from deflow.errors import UserError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def list_images(folder: str | Path) -> list[Path]:
    """Image files directly in `folder`, sorted by name; a missing or empty folder is a UserError."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder}: folder not found; check the path")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise UserError(f"{folder}: no images ({', '.join(IMAGE_SUFFIXES)}) in this folder")
    return files


def read_image(path: str | Path) -> torch.Tensor:
    """Read an image file as float32 RGB (3, H, W) in [0, 1]."""
    path = Path(path)
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None:
        reason = "file not found" if not path.exists() else "not a readable image (corrupt or unsupported format)"
        raise UserError(f"{path}: {reason}")
    return torch.from_numpy(_to_float_rgb(raw)).permute(2, 0, 1).contiguous()


def image_size(path: str | Path) -> tuple[int, int]:
    """(H, W) of an image file, from its header where Pillow can parse it (no decoding), else by reading it."""
    path = Path(path)
    try:
        from PIL import Image, UnidentifiedImageError
        with Image.open(path) as im:
            w, h = im.size
        return h, w
    except (ImportError, UnidentifiedImageError, OSError, ValueError):
        return tuple(read_image(path).shape[-2:])


def _to_float_rgb(raw: np.ndarray) -> np.ndarray:
    if raw.dtype == np.uint8:
        img = raw.astype(np.float32) / 255.0
    elif raw.dtype == np.uint16:
        img = raw.astype(np.float32) / 65535.0
    else:
        img = np.clip(raw.astype(np.float32), 0.0, 1.0)
    if img.ndim == 2:
        img = img[:, :, None]
    if img.shape[2] == 1:
        return np.repeat(img, 3, axis=2)
    if img.shape[2] == 4:
        alpha = img[:, :, 3:4]
        img = img[:, :, :3] * alpha + (1.0 - alpha)
    return np.ascontiguousarray(img[:, :, 2::-1])  # BGR -> RGB


def to_uint8(img: torch.Tensor) -> np.ndarray:
    """(3, H, W) float RGB in [0, 1] -> (H, W, 3) uint8 RGB, rounded to nearest."""
    arr = img.detach().float().clamp(0, 1).mul(255.0).round().byte().cpu()
    return arr.permute(1, 2, 0).numpy()


def write_image(path: str | Path, img: torch.Tensor, bits: int = 8) -> None:
    """Write (3, H, W) float RGB in [0, 1] as an 8- or 16-bit file; the folder is created.

    The bytes go to `<name>.part` in the same folder, then `os.replace` renames it: a file that
    exists under its final name is complete, even after an interrupted run.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    img = img.detach().float().clamp(0, 1).cpu().permute(1, 2, 0).numpy()[:, :, ::-1]
    if bits == 16:
        data = np.round(img * 65535.0).astype(np.uint16)
    else:
        data = np.round(img * 255.0).astype(np.uint8)
    try:
        ok, encoded = cv2.imencode(path.suffix, data)
    except cv2.error:
        ok = False
    if not ok:
        raise UserError(f"{path}: could not encode image (unsupported suffix {path.suffix!r})")
    partial = path.with_name(path.name + ".part")
    try:
        partial.write_bytes(encoded.tobytes())
        os.replace(partial, path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise UserError(f"{path}: could not write image ({exc.strerror or exc})") from None
