"""Image files <-> tensors: the one edge where OpenCV's BGR uint8/uint16 meets deflow's float RGB.

Inside deflow an image is a float32 RGB tensor in [0, 1], shape (3, H, W) or (N, 3, H, W).
Reading rules: 8- and 16-bit files are scaled by 255 and 65535; grayscale is repeated to RGB; palette
images are expanded to their colours; RGBA (and grayscale with alpha) is alpha-composited over a white
background (transparent pixels become white). The content decides the format, not the suffix.
A file that is not a whole image is a UserError naming it and the problem: unreadable (permissions), empty,
not an image, a PNG that ends early or fails a chunk checksum, a JPEG without its end-of-image marker, a
floating-point image with NaN or infinite pixels, or anything the decoder refuses.
"""
import os
import threading
import zlib
from pathlib import Path

import cv2
import numpy as np
import torch

from deflow.errors import UserError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
WRITE_ROWS = 512  # write_image converts this many rows at a time


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
    """Read an image file as float32 RGB (3, H, W) in [0, 1] (the rules are in the module docstring)."""
    path = Path(path)
    data = _read(path)
    kind = _format(data)
    problem = _problem(data, kind)
    raw = None if problem else cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise UserError(f"{path}: not a readable image ({problem or f'corrupt or unsupported {kind}'})")
    if raw.dtype.kind == "f" and not np.isfinite(raw).all():
        raise UserError(f"{path}: {int((~np.isfinite(raw)).any(axis=-1).sum())} pixels are NaN or infinite; "
                        "repair or remove the file")
    return torch.from_numpy(_to_float_rgb(raw)).permute(2, 0, 1).contiguous()


_SIGNATURES = {b"\x89PNG\r\n\x1a\n": "PNG", b"\xff\xd8\xff": "JPEG", b"BM": "BMP", b"II*\x00": "TIFF",
               b"MM\x00*": "TIFF", b"RIFF": "WebP"}
_PNG_END = b"IEND"


def _read(path: Path) -> bytes:
    """The file's bytes; a file the system will not give is a UserError saying why."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    except PermissionError:
        raise UserError(f"{path}: permission denied; this user may not read the file (check its permissions)") from None
    except OSError as exc:
        raise UserError(f"{path}: could not read the file ({exc.strerror or exc})") from None


def _format(data: bytes) -> str | None:
    """The image format that `data` starts with, or None."""
    for signature, kind in _SIGNATURES.items():
        if data.startswith(signature) and (kind != "WebP" or data[8:12] == b"WEBP"):
            return kind
    return None


def _problem(data: bytes, kind: str | None) -> str | None:
    """Why `data` is not a whole image to hand to the decoder, or None (the decoder may still refuse it)."""
    if not data:
        return "empty file, 0 bytes"
    if kind is None:
        return "its content is not PNG, JPEG, BMP, TIFF or WebP"
    return _png_problem(data) if kind == "PNG" else _jpeg_problem(data) if kind == "JPEG" else None


def _png_problem(data: bytes) -> str | None:
    """Why a PNG is not whole: it ends before its IEND chunk, or a chunk fails its CRC; None if it is whole."""
    offset = 8
    while offset + 12 <= len(data):
        length = int.from_bytes(data[offset:offset + 4], "big")
        kind, end = data[offset + 4:offset + 8], offset + 12 + length
        if end > len(data):
            break
        if zlib.crc32(data[offset + 4:end - 4]) != int.from_bytes(data[end - 4:end], "big"):
            return f"corrupt PNG: chunk {kind.decode('latin-1')!r} fails its checksum"
        if kind == _PNG_END:
            return None
        offset = end
    return "truncated PNG: the file ends before its last chunk"


def _jpeg_problem(data: bytes) -> str | None:
    """Why a JPEG is not whole: no end-of-image marker after its first scan (the marker cannot occur inside the
    scan's data); None if it is there. Bytes after the marker (e.g. a motion photo's video) are allowed."""
    offset = 2
    while offset + 4 <= len(data) and data[offset] == 0xFF:
        if data[offset + 1] == 0xFF:  # a fill byte before a marker
            offset += 1
            continue
        if data[offset + 1] == 0xDA:  # start of scan
            return None if data.find(b"\xff\xd9", offset) >= 0 else \
                "truncated JPEG: the file ends before its end-of-image marker"
        offset += 2 + int.from_bytes(data[offset + 2:offset + 4], "big")
    return "corrupt JPEG: its header segments do not lead to image data"


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
    """Write (3, H, W) float RGB in [0, 1] (or uint8 RGB, 0-255) as an 8- or 16-bit file; the folder is created.

    The bytes go to `<name>.<process>-<thread>.part` in the same folder, then `os.replace` renames it: a file that
    exists under its final name is complete, even after an interrupted run, and writers of one path side by side
    (threads or processes) each rename their own part file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    peak, dtype = (65535.0, np.uint16) if bits == 16 else (255.0, np.uint8)
    data = np.empty((*img.shape[-2:], 3), dtype)
    for top in range(0, data.shape[0], WRITE_ROWS):  # a band at a time: no float copy of the whole image
        band = img[:, top:top + WRITE_ROWS].detach().cpu()
        band = (band.float() / 255 if band.dtype == torch.uint8 else band.float()).clamp(0, 1).mul(peak).round()
        data[top:top + WRITE_ROWS] = band.permute(1, 2, 0).numpy()[:, :, ::-1]
    try:
        ok, encoded = cv2.imencode(path.suffix, data)
    except cv2.error:
        ok = False
    if not ok:
        raise UserError(f"{path}: could not encode image (unsupported suffix {path.suffix!r})")
    partial = path.with_name(f"{path.name}.{os.getpid()}-{threading.get_ident()}.part")
    try:
        partial.write_bytes(encoded.tobytes())
        os.replace(partial, path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise UserError(f"{path}: could not write image ({exc.strerror or exc})") from None
