"""Write the colour photos that ship inside scikit-image as PNG files, the data of tests, demo and benchmark.

    python scripts/sample_photos.py --out DIR [--names astronaut coffee ...]
"""
import argparse
from pathlib import Path

import numpy as np
import skimage.data
import torch

from deflow.cli import user_errors_exit_2
from deflow.errors import UserError
from deflow.imageio import write_image

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


def write_photos(out: Path, names: list[str]) -> list[Path]:
    paths = []
    for name in names:
        path = out / f"{name}.png"
        if not path.exists():
            write_image(path, photo(name))
        paths.append(path)
    return paths


@user_errors_exit_2
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--names", nargs="+", default=list(PHOTOS))
    args = parser.parse_args(argv)
    paths = write_photos(args.out, args.names)
    print(f"{len(paths)} photos in {args.out}")


if __name__ == "__main__":
    main()
