"""`python -m metrics --pred DIR --gt DIR`: score two folders of images matched by file name (stem).

Prints the preset, a per-image table and the mean; --json / --csv write them. User mistakes (missing
folder, unmatched names, different sizes, a --json or --csv that cannot be written, checked first) print one
`error: ...` line and exit with status 2.
"""
import argparse
import sys
from pathlib import Path

from deflow.devices import pick_device
from deflow.errors import UserError
from deflow.imageio import list_images, read_image
from deflow.outputs import output_file
from metrics.lpips_metric import BACKBONE_ENV, load_lpips
from metrics.presets import PRESETS, resolve_preset, score
from metrics.report import format_table, rows_from_scores, write_csv, write_json


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m metrics", description=__doc__.splitlines()[0])
    parser.add_argument("--pred", required=True, help="folder of SR outputs")
    parser.add_argument("--gt", required=True, help="folder of ground-truth images (same names, any extension)")
    parser.add_argument("--preset", default="rwsr_rgb", choices=list(PRESETS),
                        help="scoring convention (default rwsr_rgb)")
    parser.add_argument("--crop-border", type=int, default=None,
                        help="pixels dropped from every edge (default: --scale)")
    parser.add_argument("--scale", type=int, default=None, help="SR scale; the default crop border (else 0)")
    parser.add_argument("--json", type=Path, help="write the results as JSON here")
    parser.add_argument("--csv", type=Path, help="write the results as CSV here")
    parser.add_argument("--require-lpips", action="store_true",
                        help="fail instead of skipping LPIPS when it is unavailable")
    parser.add_argument("--lpips-backbone", type=Path,
                        help=f"torchvision AlexNet/VGG state_dict (else ${BACKBONE_ENV}, else the torch hub cache)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")
    return parser.parse_args(argv)


def match_by_stem(pred_dir: Path, gt_dir: Path, flags: tuple[str, str] = ("--pred", "--gt")) -> list[tuple[Path, Path]]:
    """(pred, gt) file pairs with the same name without extension; any mismatch is one UserError naming the folders
    by their command-line `flags`."""
    folders = {}
    for folder in (pred_dir, gt_dir):
        stems = {}
        for path in list_images(folder):
            if path.stem in stems:
                raise UserError(f"{folder}: two images named {path.stem!r} ({stems[path.stem].name}, {path.name})")
            stems[path.stem] = path
        folders[folder] = stems
    pred, gt = folders[pred_dir], folders[gt_dir]
    only_pred, only_gt = sorted(pred.keys() - gt.keys()), sorted(gt.keys() - pred.keys())
    if only_pred or only_gt:
        def listing(names, where):
            shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
            return f"only in {where}: {shown}" if names else ""
        parts = [p for p in (listing(only_pred, pred_dir), listing(only_gt, gt_dir)) if p]
        raise UserError(f"file names differ between {flags[0]} and {flags[1]} (matched without extension); "
                        + "; ".join(parts))
    return [(pred[stem], gt[stem]) for stem in sorted(pred)]


def score_file(path: Path, pred, gt, preset, lpips) -> dict:
    """`score` of one image pair (with HaarPSI); a pair it cannot score (e.g. too small for SSIM) names `path`."""
    try:
        return score(pred, gt, preset, lpips=lpips, haarpsi=True)
    except UserError as exc:
        raise UserError(f"{path}: {exc}") from None


def run(args: argparse.Namespace) -> list[dict]:
    device = pick_device(args.device)
    for flag, path in (("--json", args.json), ("--csv", args.csv)):
        if path is not None:
            output_file(path, flag)
    preset = resolve_preset(args.preset, args.crop_border, args.scale)
    pairs = match_by_stem(Path(args.pred), Path(args.gt))
    lpips = None
    if preset.lpips_net is not None:
        lpips = load_lpips(preset.lpips_net, args.lpips_backbone, require=args.require_lpips, device=device)
    rows = []
    for pred_path, gt_path in pairs:
        pred, gt = read_image(pred_path), read_image(gt_path)
        if pred.shape != gt.shape:
            raise UserError(f"size mismatch: {pred_path} is {pred.shape[2]}x{pred.shape[1]}, "
                            f"{gt_path} is {gt.shape[2]}x{gt.shape[1]}")
        rows += rows_from_scores([pred_path.stem], score_file(pred_path, pred.to(device), gt.to(device), preset, lpips))
    note = lpips.reason if lpips is not None and not lpips.available else None
    if note:
        print(f"LPIPS unavailable: {note}", file=sys.stderr)
    print(format_table(rows, preset))
    if args.json:
        write_json(args.json, rows, preset, lpips_note=note)
    if args.csv:
        write_csv(args.csv, rows, preset)
    return rows


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        run(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
