"""Build DeFlow's multi-scale folders: every source image downscaled by each factor s into `<target>/<s>x/`.

    python scripts/create_dataset.py -source photos/ -target data/clean -scales 1 4 16 [--h bicubic_noise]
    python scripts/create_dataset.py -source photos/ -target data/clean --h median_denoise --h_set kernel_size=5
    python scripts/create_dataset.py -source photos/ -target data/clean -scales 2 -multiple 8

Each image is first cropped at the top-left to a multiple of max(scales) (-multiple: of a larger multiple of every
scale, e.g. so that `2x/` images divide by a conditioning factor 4 applied to them later), so every factor divides
it exactly and `<s>x/` images are aligned across scales. `1x/` is that crop; every other `<s>x/` is its
conditioning image under the h named by --h at factor s (deflow.flow.h.conditioning_image, what the model
computes when translating; bicubic_noise downsamples with MATLAB's antialiased bicubic), as 8-bit PNGs
under the source file's stem. --h and --h_set must be the model's network_g.h: its type and the keys that change
its downsampling. Files are written to a temporary name and renamed, so a file that exists
is complete; each then takes its source's modification time. A second run skips the outputs whose time is still
their source's, so an interrupted run resumes, and writes again those of a source changed since (or of a write cut
short before its time was set).
"""
import argparse
import os
from pathlib import Path

from deflow.config import apply_override
from deflow.errors import UserError, user_errors_exit_2
from deflow.flow.h import build_h, conditioning_image
from deflow.imageio import list_images, read_image, write_image
from deflow.outputs import output_folder
from deflow.registry import load_plugins


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-source", "--source", "-source_dir", "--source_dir", dest="source", required=True,
                        help="folder of source images (not searched recursively)")
    parser.add_argument("-target", "--target", "-target_dir", "--target_dir", dest="target", required=True,
                        help="output folder; gets one subfolder <s>x/ per scale")
    parser.add_argument("-scales", "--scales", dest="scales", type=int, nargs="+", default=[1, 4],
                        help="downscaling factors (default: 1 4)")
    parser.add_argument("-multiple", "--multiple", type=int,
                        help="crop each image to a multiple of this (a multiple of every scale; default: the largest "
                             "scale)")
    parser.add_argument("--h", default="bicubic_noise",
                        help="registered domain-invariant function h whose downsampling makes <s>x/ "
                             "(default: bicubic_noise, MATLAB bicubic)")
    parser.add_argument("--h_set", action="append", default=[], metavar="KEY=VALUE",
                        help="a key of that h, as network_g.h.KEY of the model's config (e.g. kernel_size=5); "
                             "repeatable")
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
    output_folder(target, "-target")
    seen: dict[str, Path] = {}
    for path in images:
        if path.stem in seen:
            raise UserError(f"{path}: same name as {seen[path.stem].name}, both would be written as {path.stem}.png; "
                            "rename one")
        seen[path.stem] = path
    return images


def is_current(output: Path, source: Path) -> bool:
    """`output` exists and carries the modification time of `source` (see the module docstring)."""
    return output.exists() and output.stat().st_mtime_ns == source.stat().st_mtime_ns


def h_section(name: str, assignments: list[str]) -> dict:
    """--h NAME --h_set KEY=VALUE ... -> the network_g.h section {type: NAME, KEY: value, ...}, values typed as YAML."""
    section = {"type": name}
    for assignment in assignments:
        apply_override(section, assignment, "--h_set", "kernel_size=5")
    return section


def build(source: Path, target: Path, scales: list[int], log=print, h: dict | None = None,
          multiple: int | None = None) -> tuple[int, int]:
    """Write every `<target>/<s>x/<stem>.png` that is missing or older than its source (is_current); returns
    (files written, files skipped). h: the network_g.h section (None: {type: bicubic_noise}); multiple: the crop's
    (None: max(scales))."""
    scales = sorted(set(scales))
    images = check_args(source, target, scales)
    multiple = max(scales) if multiple is None else multiple
    if multiple < 1 or any(multiple % s for s in scales):
        raise UserError(f"-multiple {multiple}: must be a multiple of every scale ({' '.join(map(str, scales))})")
    downsamplers = {s: build_h(h or {"type": "bicubic_noise"}, s) for s in scales if s > 1}
    written = skipped = 0
    for i, path in enumerate(images, 1):
        outputs = {s: target / f"{s}x" / f"{path.stem}.png" for s in scales}
        todo = [s for s, out in outputs.items() if not is_current(out, path)]
        if todo:
            img = read_image(path)
            h, w = img.shape[-2:]
            if h < multiple or w < multiple:
                raise UserError(f"{path}: {w}x{h} is smaller than {multiple}, the multiple it is cropped to; remove "
                                "it or lower -scales / -multiple")
            img = img[:, : h - h % multiple, : w - w % multiple]
            times = path.stat()
            for s in todo:
                write_image(outputs[s], conditioning_image(downsamplers[s], img) if s > 1 else img)
                os.utime(outputs[s], ns=(times.st_atime_ns, times.st_mtime_ns))
        written += len(todo)
        skipped += len(scales) - len(todo)
        log(f"[{i}/{len(images)}] {path.name}: wrote {len(todo)}, skipped {len(scales) - len(todo)}")
    return written, skipped


@user_errors_exit_2
def main(argv=None) -> None:
    args = parse_args(argv)
    load_plugins()  # an h registered by a plugin package
    source, target = Path(args.source), Path(args.target)
    written, skipped = build(source, target, args.scales, log=lambda line: print(line, flush=True),
                             h=h_section(args.h, args.h_set), multiple=args.multiple)
    print(f"done: {written} files written, {skipped} skipped (up to date) in {target}/"
          f"{{{','.join(f'{s}x' for s in sorted(set(args.scales)))}}}", flush=True)


if __name__ == "__main__":
    main()
