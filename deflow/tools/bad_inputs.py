"""A corpus of bad and unusual image inputs, to check that a command handles each by a documented rule or stops with
one line naming the file (tests/faults/ runs every command line against it; run it on your own commands too).

    python scripts/make_bad_inputs.py --out bad/

Every case is a folder `<out>/<case>/` holding a small paired set, scale 2: `gt/` (GT, 32 px), `lq/` (its LQ, 16 px)
and `pred/` (an "SR result" of GT size), each with the good image `good.png` and the case's own item, named the same
in the three folders unless the case is about names; a bad file is named `zz_bad.*`, after `good.png`, so a command
meets it after it has made good's outputs. `<out>/good/` holds the good image alone. `CASES` says what each case is
and which file or folder an error must name.
"""
import argparse
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

SIZE, SCALE = 32, 2
FOLDERS = ("gt", "lq", "pred")
WRITTEN = time.mktime((2020, 1, 1, 0, 0, 0, 0, 0, -1))  # every file's modification time: good.png is one source


@dataclass(frozen=True)
class Case:
    """One corpus case: what it holds, its kind, and what an error about it must name. Kinds: "broken" (every reader
    must stop), "rule" (read by deflow/imageio.py's rules), "size" (too small for some commands) and "pairing" (for
    the commands that pair folders)."""
    doc: str
    kind: str
    culprit: str = "zz_bad"


CASES = {
    "truncated_png": Case("a PNG cut off halfway through its image data", "broken"),
    "corrupt_png": Case("a PNG with bytes overwritten inside its image data (checksums no longer match)", "broken"),
    "truncated_jpeg": Case("a JPEG cut off halfway through its image data", "broken"),
    "corrupt_jpeg": Case("a JPEG whose header segments are overwritten with garbage", "broken"),
    "zero_byte": Case("an empty file named .png", "broken"),
    "text_as_png": Case("a text file named .png", "broken"),
    "unreadable": Case("a good PNG without read permission (chmod 000; root reads it anyway)", "broken"),
    "nan_pixels": Case("a 32-bit float TIFF with NaN and infinite pixels", "broken"),
    "empty_folder": Case("gt/, lq/ and pred/ without any image", "broken", culprit="empty_folder"),
    "grayscale": Case("a one-channel 8-bit PNG", "rule"),
    "gray_alpha": Case("a grayscale PNG with an alpha channel", "rule"),
    "rgba": Case("an RGBA PNG, half transparent", "rule"),
    "sixteen_bit": Case("a 16-bit RGB PNG", "rule"),
    "palette": Case("a palette (indexed colour) PNG", "rule"),
    "spaces_unicode": Case("a file name with spaces and non-ASCII letters, in such a folder", "rule",
                           culprit="ïmage ü"),
    "tiny": Case("a 2x2 GT and its 1x1 LQ: smaller than any crop, patch or scale", "size"),
    "names_mismatch": Case("gt/, lq/ and pred/ each hold an image the others lack", "pairing", culprit="only_"),
    "size_mismatch": Case("a 30x32 GT whose LQ is 16x16, and a 32x32 pred of that GT", "pairing", culprit="odd"),
    "scale_mismatch": Case("a 32x32 GT whose LQ is 8x8 (x4, the set is x2)", "pairing", culprit="x4"),
}


def photo_like(h: int, w: int, seed: int) -> np.ndarray:
    """(h, w, 3) uint8 RGB: smooth colour gradients with mild noise, so every codec and metric has something to do."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(h, w, 1)
    base = np.stack([x, y, 1 - (x + y) / 2], axis=-1)
    return np.clip(255 * base + rng.normal(0, 6, (h, w, 3)), 0, 255).astype(np.uint8)


def _save(path: Path, rgb: np.ndarray, mode: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(rgb)
    (image.convert(mode) if mode else image).save(path)


def _pair(folder: Path, name: str, gt: np.ndarray, lq_size: tuple[int, int] | None = None, pred=None) -> None:
    """gt/<name>.png, lq/<name>.png (area-downsampled, or resized to `lq_size`) and pred/<name>.png."""
    h, w = lq_size or (gt.shape[0] // SCALE, gt.shape[1] // SCALE)
    _save(folder / "gt" / f"{name}.png", gt)
    _save(folder / "lq" / f"{name}.png", cv2.resize(gt, (w, h), interpolation=cv2.INTER_AREA))
    _save(folder / "pred" / f"{name}.png", gt if pred is None else pred)


def _in_every_folder(folder: Path, name: str, write) -> None:
    """`write(path, (h, w))` for `name` in gt/ (GT size) and lq/ (LQ size) and pred/ (GT size)."""
    for sub, size in zip(FOLDERS, ((SIZE, SIZE), (SIZE // SCALE, SIZE // SCALE), (SIZE, SIZE))):
        (folder / sub).mkdir(parents=True, exist_ok=True)
        write(folder / sub / name, size)


def _encoded(suffix: str, size: tuple[int, int]) -> bytes:
    ok, data = cv2.imencode(suffix, cv2.cvtColor(photo_like(*size, seed=7), cv2.COLOR_RGB2BGR))
    assert ok
    return data.tobytes()


def _truncated(suffix: str, marker: bytes, size) -> bytes:
    """The file cut off halfway through its image data (after `marker`), so that its headers still parse."""
    data = _encoded(suffix, size)
    start = data.index(marker)
    return data[:start + (len(data) - start) // 2]


def _corrupt_png(size) -> bytes:
    data = bytearray(_encoded(".png", size))
    start = data.index(b"IDAT") + 8
    data[start:start + 16] = bytes(16)
    return bytes(data)


def _corrupt_jpeg(size) -> bytes:
    data = bytearray(_encoded(".jpg", size))
    data[4:40] = b"\x13" * 36
    return bytes(data)


def _mode(mode: str):
    return lambda path, size: _save(path, photo_like(*size, seed=3), mode)


def _sixteen_bit(path: Path, size) -> None:
    deep = photo_like(*size, seed=5).astype(np.uint16) * 257 + 100
    cv2.imwrite(str(path), deep[:, :, ::-1])


def _rgba(path: Path, size) -> None:
    rgba = np.dstack([photo_like(*size, seed=4), np.full(size, 128, np.uint8)])
    _save(path, rgba)


def _nan_tiff(path: Path, size) -> None:
    img = photo_like(*size, seed=6).astype(np.float32) / 255
    img[0, 0], img[-1, -1] = np.nan, np.inf
    cv2.imwrite(str(path), img[:, :, ::-1])


def _bytes(make):
    return lambda path, size: path.write_bytes(make(size))


FILE_WRITERS = {
    "truncated_png": ("zz_bad.png", _bytes(lambda size: _truncated(".png", b"IDAT", size))),
    "corrupt_png": ("zz_bad.png", _bytes(_corrupt_png)),
    "truncated_jpeg": ("zz_bad.jpg", _bytes(lambda size: _truncated(".jpg", b"\xff\xda", size))),
    "corrupt_jpeg": ("zz_bad.jpg", _bytes(_corrupt_jpeg)),
    "zero_byte": ("zz_bad.png", _bytes(lambda size: b"")),
    "text_as_png": ("zz_bad.png", _bytes(lambda size: b"this is a text file, not an image\n")),
    "unreadable": ("zz_bad.png", _bytes(lambda size: _encoded(".png", size))),
    "grayscale": ("zz_bad.png", _mode("L")),
    "gray_alpha": ("zz_bad.png", _mode("LA")),
    "rgba": ("zz_bad.png", _rgba),
    "sixteen_bit": ("zz_bad.png", _sixteen_bit),
    "palette": ("zz_bad.png", _mode("P")),
    "nan_pixels": ("zz_bad.tif", _nan_tiff),
}


def write_case(root: Path, name: str) -> Path:
    """Write case `name` (a key of CASES) into root/<name>/ and return that folder."""
    folder = root / ("spaces and ünïcode" if name == "spaces_unicode" else name)
    if name == "empty_folder":
        for sub in FOLDERS:
            (folder / sub).mkdir(parents=True, exist_ok=True)
        return folder
    _pair(folder, "good", photo_like(SIZE, SIZE, seed=1))
    if name in FILE_WRITERS:
        file_name, write = FILE_WRITERS[name]
        _in_every_folder(folder, file_name, write)
        if name == "unreadable":
            for sub in FOLDERS:
                os.chmod(folder / sub / file_name, 0)
    elif name == "tiny":
        _pair(folder, "zz_bad", photo_like(2, 2, seed=2))
    elif name == "spaces_unicode":
        _pair(folder, "ïmage ü", photo_like(SIZE, SIZE, seed=2))
    elif name == "names_mismatch":
        for sub in FOLDERS:
            _save(folder / sub / f"only_{sub}.png", photo_like(SIZE // (SCALE if sub == "lq" else 1), SIZE, seed=2))
    elif name == "size_mismatch":
        _pair(folder, "odd", photo_like(SIZE - 2, SIZE, seed=2), lq_size=(SIZE // SCALE, SIZE // SCALE),
              pred=photo_like(SIZE, SIZE, seed=2))
    elif name == "scale_mismatch":
        _pair(folder, "x4", photo_like(SIZE, SIZE, seed=2), lq_size=(SIZE // 4, SIZE // 4))
    else:
        raise KeyError(f"unknown case {name!r}; known: {', '.join(CASES)}")
    return folder


def write_good(root: Path) -> Path:
    """root/good/: the good image alone, in gt/, lq/ and pred/."""
    _pair(root / "good", "good", photo_like(SIZE, SIZE, seed=1))
    return root / "good"


def write_corpus(root: Path) -> dict[str, Path]:
    """Every case and good/ under `root` (replaced if there); {case name, or "good": its folder}."""
    if root.exists():
        for path in root.rglob("*"):
            path.chmod(0o700)
        shutil.rmtree(root)
    cases = {"good": write_good(root)} | {name: write_case(root, name) for name in CASES}
    for path in root.rglob("*"):
        if path.is_file():
            os.utime(path, (WRITTEN, WRITTEN))
    return cases


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="folder of the corpus (replaced if it exists)")
    args = parser.parse_args(argv)
    cases = write_corpus(args.out)
    width = max(map(len, CASES))
    for name, folder in cases.items():
        print(f"{name:<{width}}  {folder}  {CASES[name].doc if name in CASES else 'the good image alone'}")
