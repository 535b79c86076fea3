"""Write the colour photos that ship inside scikit-image as PNG files, the data of tests, demo and benchmark.

    python scripts/sample_photos.py --out DIR [--names astronaut coffee ...]
"""
import argparse
from pathlib import Path

import numpy as np
import skimage.data
import torch

from deflow.errors import UserError, user_errors_exit_2
from deflow.imageio import list_images, read_image, write_image

# name -> loader; stereo_motorcycle gives two views of one scene, kept apart as two photos
PHOTOS = {
    "astronaut": skimage.data.astronaut,
    "chelsea": skimage.data.chelsea,
    "coffee": skimage.data.coffee,
    "rocket": skimage.data.rocket,
    "hubble_deep_field": skimage.data.hubble_deep_field,
    "immunohistochemistry": skimage.data.immunohistochemistry,
    "retina": skimage.data.retina,
    "motorcycle_left": lambda: skimage.data.stereo_motorcycle()[0],
    "motorcycle_right": lambda: skimage.data.stereo_motorcycle()[1],
}


def photo(name: str) -> torch.Tensor:
    """A named photo as float RGB (3, H, W) in [0, 1]."""
    if name not in PHOTOS:
        raise UserError(f"unknown photo {name!r}; available: {', '.join(PHOTOS)}")
    array = np.ascontiguousarray(PHOTOS[name]()[..., :3])
    return torch.from_numpy(array).permute(2, 0, 1).float() / 255.0


def photo_sources(items: list[str]) -> list[str]:
    """Each item a skimage photo name (PHOTOS), an image file or a folder of images (expanded to its files, sorted)
    -> the list of sources: names as given, files as absolute paths."""
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
    return Path(source).stem


def write_photo_set(folder: Path, sources: list[str], multiple: int = 1) -> list[Path]:
    """Photos (skimage names, or image files as absolute paths, see `photo_sources`) as PNG files
    `folder/<name>.png`, cropped at the top-left to a multiple of `multiple`; existing files are kept."""
    paths = []
    for source in sources:
        path = folder / f"{source_name(source)}.png"
        if not path.exists():
            img = read_image(source) if Path(source).is_absolute() else photo(source)
            write_image(path, img[:, : img.shape[1] // multiple * multiple, : img.shape[2] // multiple * multiple])
        paths.append(path)
    return paths


@user_errors_exit_2
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--names", nargs="+", default=list(PHOTOS))
    args = parser.parse_args(argv)
    paths = write_photo_set(args.out, args.names)
    print(f"{len(paths)} photos in {args.out}")


if __name__ == "__main__":
    main()
