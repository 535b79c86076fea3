"""`degrade`: write degraded copies of a folder of images with a pipeline preset or YAML file.

The copies appear in --out only when every image is done (deflow/outputs.py): a run that fails on a bad input
leaves an earlier run's outputs as they were.
"""
import argparse
import zlib
from pathlib import Path

import torch

from deflow.devices import pick_device
from deflow.errors import UserError, user_errors_exit_2
from deflow.imageio import list_images, read_image, write_image
from deflow.outputs import staged_folder
from degradations.pipeline import Pipeline, preset_names


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="degrade", description=__doc__)
    parser.add_argument("--pipeline", required=True, help=f"a preset ({', '.join(preset_names())}) or a YAML file")
    parser.add_argument("--input", required=True, type=Path, help="folder of HR images")
    parser.add_argument("--out", required=True, type=Path, help="folder for the LR images (same file names)")
    parser.add_argument("--scale", type=float, default=4, help="downscaling factor (default 4)")
    parser.add_argument("--seed", type=int, default=0, help="seed; each image's draws depend on it and the file name")
    parser.add_argument("--bits", type=int, choices=(8, 16), default=8, help="bit depth of PNG/TIFF outputs")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    return parser.parse_args(argv)


def image_generator(seed: int, name: str) -> torch.Generator:
    """The generator for one file: independent of the other files in the folder. (torch's CPU generator
    keeps only 32 bits of its seed, so seed and name are hashed together.)"""
    return torch.Generator().manual_seed(zlib.crc32(f"{seed}/{name}".encode()))


def degrade_folder(pipeline: Pipeline, input_dir: Path, out_dir: Path, seed: int, bits: int = 8,
                   device: str | torch.device = "cpu") -> list[Path]:
    """Degrade every image of input_dir into out_dir (H, W cropped to multiples of the scale)."""
    if out_dir.resolve() == input_dir.resolve():
        raise UserError(f"{out_dir}: the output folder is the input folder; choose another --out")
    scale = pipeline.scale
    written = []
    for path in list_images(input_dir):
        hr = read_image(path)
        h, w = (int(int(n / scale) * scale) for n in hr.shape[-2:])
        if h == 0 or w == 0:
            raise UserError(f"{path}: {hr.shape[-2]}x{hr.shape[-1]} is smaller than the scale {scale:g}")
        lr = pipeline(hr[None, :, :h, :w].to(device), image_generator(seed, path.name))
        write_image(out_dir / path.name, lr[0], bits=bits)
        written.append(out_dir / path.name)
    return written


@user_errors_exit_2
def main(argv=None) -> None:
    args = parse_args(argv)
    if not args.scale > 0:
        raise UserError(f"--scale {args.scale:g}: the downscaling factor must be positive (e.g. 2 or 4)")
    device = pick_device(args.device)
    pipeline = Pipeline.from_name_or_file(args.pipeline, args.scale)
    with staged_folder(args.out, "--out", (args.input,)) as stage:
        written = degrade_folder(pipeline, args.input, stage, args.seed, args.bits, device)
    print(f"{len(written)} images degraded with {pipeline.name} (x{args.scale:g}) into {args.out}")
