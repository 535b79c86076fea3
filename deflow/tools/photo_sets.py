"""What the measured checks on skimage's photos share: photo sets on disk, a noise estimator and a logged command.

Used by deflow_check.py and benchmark.py.
"""
import subprocess
from pathlib import Path

import torch

from deflow.errors import UserError
from deflow.imageio import list_images, read_image, write_image
from deflow.tools.sample_photos import PHOTOS, photo

# MAD -> std of a Gaussian: the median of |N(0, 1)| is 0.6745.
MAD_TO_STD = 0.6745


def noise_std(img: torch.Tensor) -> float:
    """Noise std of a (3, H, W) image in [0, 1], in 8-bit units: the median absolute value of the finest diagonal
    Haar wavelet sub-band / 0.6745, averaged over channels (Donoho's estimator, as skimage's estimate_sigma, which
    uses Daubechies wavelets and needs PyWavelets). White Gaussian noise of std s gives s; image detail adds to it."""
    x = img.double() * 255
    x = x[:, : x.shape[1] // 2 * 2, : x.shape[2] // 2 * 2]
    diagonal = (x[:, 0::2, 0::2] - x[:, 0::2, 1::2] - x[:, 1::2, 0::2] + x[:, 1::2, 1::2]) / 2
    return float((diagonal.abs().flatten(1).median(dim=1).values / MAD_TO_STD).mean())


def noise_sigma(paths: list[Path]) -> float:
    """Mean `noise_std` over image files, in 8-bit units."""
    return sum(noise_std(read_image(p)) for p in paths) / len(paths)


def photo_sources(items: list[str]) -> list[str]:
    """Each item a skimage photo name (deflow.tools.sample_photos.PHOTOS), an image file or a folder of images
    (expanded to its files, sorted) -> the list of sources, files as absolute paths."""
    sources = []
    for item in items:
        path = Path(item)
        if item in PHOTOS:
            sources.append(item)
        elif path.is_dir():
            sources += [str(p.resolve()) for p in list_images(path)]
        elif path.is_file():
            sources.append(str(path.resolve()))
        else:
            raise UserError(f"{item}: neither a skimage photo ({', '.join(PHOTOS)}) nor an image file or folder")
    return sources


def source_name(source: str) -> str:
    """The name a photo source goes by in folders and tables: the skimage name or the file's stem."""
    return source if source in PHOTOS else Path(source).stem


def write_photo_set(folder: Path, sources: list[str], multiple: int = 1) -> list[Path]:
    """Photos (skimage names or image files, see `photo_sources`) as PNG files `folder/<name>.png`, cropped at the
    top-left to a multiple of `multiple`; existing files are kept."""
    paths = []
    for source in sources:
        path = folder / f"{source_name(source)}.png"
        if not path.exists():
            img = photo(source) if source in PHOTOS else read_image(source)
            write_image(path, img[:, : img.shape[1] // multiple * multiple, : img.shape[2] // multiple * multiple])
        paths.append(path)
    return paths


def run(cmd: list[str], log: Path | None = None, env: dict | None = None) -> None:
    """Run a command; its output goes to `log` (appended) when given, else to the terminal."""
    if log is None:
        print("$", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True, env=env)
        return
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as stream:
        stream.write("$ " + " ".join(cmd) + "\n")
        stream.flush()
        result = subprocess.run(cmd, stdout=stream, stderr=subprocess.STDOUT, env=env)
    if result.returncode != 0:
        tail = "".join(log.read_text().splitlines(keepends=True)[-15:])
        raise RuntimeError(f"command failed (exit {result.returncode}), log {log}:\n{tail}")
