"""Build DeFlow's multi-scale folders: every source image downscaled by each factor s into `<target>/<s>x/`.

    python scripts/create_dataset.py -source photos/ -target data/clean -scales 1 4 16

Each image is first cropped at the top-left to a multiple of max(scales), so every factor divides it
exactly and `<s>x/` images are aligned across scales; it is then downscaled with MATLAB's antialiased
bicubic (degradations.resize.imresize) and written as an 8-bit PNG under the source file's stem.
Files are written to a temporary name and renamed, so a file that exists is complete: a second run
skips what is done and an interrupted run resumes.
"""
import argparse
from pathlib import Path

import torch

from degradations.resize import imresize
from deflow.cli import user_errors_exit_2
from deflow.errors import UserError
from deflow.imageio import list_images, read_image, write_image


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-source", "--source", "-source_dir", "--source_dir", dest="source", required=True,
                        help="folder of source images (not searched recursively)")
    parser.add_argument("-target", "--target", "-target_dir", "--target_dir", dest="target", required=True,
                        help="output folder; gets one subfolder <s>x/ per scale")
    parser.add_argument("-scales", "--scales", dest="scales", type=int, nargs="+", default=[1, 4],
                        help="downscaling factors (default: 1 4)")
    return parser.parse_args(argv)


def check_args(source: Path, target: Path, scales: list[int]) -> list[Path]:
    """The source images, after checking the scales, the folders and that no two images share a stem."""
    bad = [s for s in scales if s <= 0]
    if bad:
        raise UserError(f"-scales must be positive integers; got {' '.join(map(str, bad))}")
    source_abs, target_abs = source.resolve(), target.resolve()
    if target_abs == source_abs or source_abs in target_abs.parents:
        raise UserError(f"target {target} is inside source {source}; choose a target outside the source folder")
    images = list_images(source)
    seen: dict[str, Path] = {}
    for path in images:
        if path.stem in seen:
            raise UserError(f"{path}: same name as {seen[path.stem].name}, both would be written as {path.stem}.png; "
                            "rename one")
        seen[path.stem] = path
    return images


def downscale(img: torch.Tensor, factor: int) -> torch.Tensor:
    """(3, H, W) -> (3, H / factor, W / factor) with MATLAB-style antialiased bicubic; H, W divisible by factor."""
    if factor == 1:
        return img
    h, w = img.shape[-2:]
    return imresize(img, size=(h // factor, w // factor))  # per-axis scale exactly 1 / factor


def build(source: Path, target: Path, scales: list[int], log=print) -> tuple[int, int]:
    """Write every missing `<target>/<s>x/<stem>.png`; returns (files written, files skipped)."""
    scales = sorted(set(scales))
    images = check_args(source, target, scales)
    multiple = max(scales)
    written = skipped = 0
    for i, path in enumerate(images, 1):
        outputs = {s: target / f"{s}x" / f"{path.stem}.png" for s in scales}
        todo = [s for s, out in outputs.items() if not out.exists()]
        if todo:
            img = read_image(path)
            h, w = img.shape[-2:]
            if h < multiple or w < multiple:
                raise UserError(f"{path}: {w}x{h} is smaller than the largest scale {multiple}; remove it or lower "
                                "-scales")
            img = img[:, : h - h % multiple, : w - w % multiple]
            for s in todo:
                write_image(outputs[s], downscale(img, s))
        written += len(todo)
        skipped += len(scales) - len(todo)
        log(f"[{i}/{len(images)}] {path.name}: wrote {len(todo)}, skipped {len(scales) - len(todo)}")
    return written, skipped


@user_errors_exit_2
def main(argv=None) -> None:
    args = parse_args(argv)
    source, target = Path(args.source), Path(args.target)
    written, skipped = build(source, target, args.scales, log=lambda line: print(line, flush=True))
    print(f"done: {written} files written, {skipped} skipped (already there) in {target}/"
          f"{{{','.join(f'{s}x' for s in sorted(set(args.scales)))}}}", flush=True)
