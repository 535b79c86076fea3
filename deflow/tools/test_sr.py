"""Run an SR model over a folder of low-resolution images; score and report when GT is given.

    python scripts/test_sr.py (-opt CONF | --model_path CKPT) --input LR_DIR [--gt GT_DIR] --out DIR
        [--metrics rwsr_rgb] [--crop-border N] [--tile 256] [--require-lpips] [--lpips-backbone FILE] [--device auto]
        [--compare LABEL=DIR ...]

-opt alone is enough for a model whose networks have no weights (a classical pipeline) or whose config names them
(path.pretrain_network_g). A multi-frame model takes a folder of bursts: LR_DIR/<name>/ holds the frames of one burst
(sorted by file name, all of one size) and GT_DIR/<name>.png its ground truth.

Writes DIR/sr/<name>.png, and with GT: DIR/metrics.csv, DIR/metrics.json (per image and mean, preset named) and
DIR/report.html (table worst-first, PSNR/SSIM plot, LR | bicubic | SR | GT with a zoomed crop; without GT, LR |
bicubic | SR). --compare shows other SR results of the same images beside them, e.g. --compare "stage 1=runs/psnr"
(DIR holds <name>.png, or is another test_sr output folder with sr/<name>.png).

Every input is checked (names, sizes, the crop border) before any work, and the outputs appear in DIR only when the
run succeeds (deflow/outputs.py): a run that fails leaves an earlier run's outputs and report as they were.
"""
import argparse
import sys
from pathlib import Path

import torch
from tqdm import tqdm

from deflow.errors import UserError, user_errors_exit_2
from deflow.imageio import image_size, list_images, read_image, write_image
from deflow.models.loading import load_for_inference
from deflow.outputs import staged_folder
from deflow.tiling import apply_tiled, tile_option
from degradations.resize import imresize
from metrics.cli import match_by_stem, score_file
from metrics.lpips_metric import load_lpips
from metrics.presets import PRESETS, resolve_preset
from metrics.report import METRIC_KEYS, format_table, rows_from_scores, write_csv, write_html_report, write_json

OVERLAP = 16  # LR px shared by neighbouring tiles


def check_gt_sizes(pairs: list[tuple[Path, Path]], scale: int, crop_border: int) -> None:
    """Every GT is exactly `scale` times its LR image and larger than twice the crop border (checked from the file
    headers, before any work)."""
    for lr_path, gt_path in pairs:
        (lh, lw), (gh, gw) = image_size(lr_path), image_size(gt_path)
        if (gh, gw) != (lh * scale, lw * scale):
            raise UserError(f"{gt_path} is {gw}x{gh} but {lr_path} is {lw}x{lh}: "
                            f"GT must be exactly {scale}x the LR image (the model's scale)")
        if min(gh, gw) <= 2 * crop_border:
            raise UserError(f"{gt_path} is {gw}x{gh}: --crop-border {crop_border} leaves nothing of it to score; "
                            "lower --crop-border or remove the image")


def list_bursts(input_dir: Path) -> list[Path]:
    """The burst folders of `input_dir` (each holding the frames of one burst), sorted by name."""
    if not input_dir.is_dir():
        raise UserError(f"{input_dir}: folder not found; check the path")
    bursts = sorted(p for p in input_dir.iterdir() if p.is_dir())
    if not bursts:
        raise UserError(f"{input_dir}: no burst folders; a multi-frame model takes one folder of frames per burst")
    return bursts


def read_burst(folder: Path) -> torch.Tensor:
    """(T, 3, H, W): the frames of one burst, in file-name order."""
    paths = list_images(folder)
    frames = [read_image(path) for path in paths]
    for path, frame in zip(paths, frames):
        if frame.shape != frames[0].shape:
            raise UserError(f"{path}: is {frame.shape[2]}x{frame.shape[1]} but {paths[0].name} is "
                            f"{frames[0].shape[2]}x{frames[0].shape[1]}; the frames of a burst must all have one size")
    return torch.stack(frames)


def parse_compare(items: list[str]) -> dict[str, Path]:
    """["LABEL=DIR", ...] -> {label: folder of SR images}; a test_sr output folder stands for its sr/."""
    folders = {}
    for item in items:
        label, sep, folder = item.partition("=")
        if not sep or not label or not folder:
            raise UserError(f"--compare {item}: expected LABEL=DIR, e.g. 'stage 1=runs/psnr_eval'")
        if label.lower() in ("lr", "sr", "gt", "bicubic") or label in folders:
            raise UserError(f"--compare {item}: the label {label!r} is taken; choose another")
        folder = Path(folder)
        folders[label] = folder / "sr" if (folder / "sr").is_dir() else folder
        if not folders[label].is_dir():
            raise UserError(f"--compare {item}: folder {folder} not found")
    return folders


def compared(folders: dict[str, Path], shown: dict[str, Path], scale: int) -> dict[str, dict[str, Path]]:
    """{name: {label: that folder's SR image of `name`}} for every input (`shown`: name -> its LR image), each checked
    to be `scale` times the LR, before any work."""
    found = {label: {p.stem: p for p in list_images(folder)} for label, folder in folders.items()}
    images = {}
    for name, lr_path in shown.items():
        lh, lw = image_size(lr_path)
        images[name] = {}
        for label, paths in found.items():
            path = paths.get(name)
            if path is None:
                raise UserError(f"--compare {label}={folders[label]}: no image named {name}; compare SR results of "
                                "the same inputs")
            if image_size(path) != (lh * scale, lw * scale):
                raise UserError(f"--compare {label}: {path} is {image_size(path)[1]}x{image_size(path)[0]}, not "
                                f"{scale}x {lr_path}; compare results of the same scale")
            images[name][label] = path
    return images


def evaluate(model, input_dir: Path, out_dir: Path, gt_dir: Path | None = None, preset: str = "rwsr_rgb",
             crop_border: int | None = None, tile: int | None = 256, lpips_backbone=None, require_lpips=False,
             compare: dict[str, Path] | None = None):
    """SR every image (or burst) of `input_dir` into out_dir/sr; with `gt_dir`, score and report (beside each SR:
    plain bicubic upsampling and the images of `compare`, {label: folder}). Returns the rows."""
    input_dir, out_dir = Path(input_dir), Path(out_dir)
    scale, burst = model.scale, model.INFER_INPUT == "burst"
    inputs = list_bursts(input_dir) if burst else list_images(input_dir)
    if gt_dir is not None:
        gts = {path.stem: path for path in list_images(Path(gt_dir))}
        pairs = match_by_stem(input_dir, Path(gt_dir), ("--input", "--gt")) if not burst else \
            [(b, gts.get(b.name)) for b in inputs]
        missing = [b.name for b, g in pairs if g is None]
        if missing:
            raise UserError(f"{gt_dir}: no GT image for burst {missing[0]}; name it {missing[0]}.png")
    else:
        pairs = [(path, None) for path in inputs]
    resolved = resolve_preset(preset, crop_border, scale)
    if gt_dir is not None:
        check_gt_sizes([(next(iter(list_images(b))) if burst else b, g) for b, g in pairs], scale,
                       resolved.crop_border)
    lpips = None
    if gt_dir is not None and resolved.lpips_net is not None:
        lpips = load_lpips(resolved.lpips_net, lpips_backbone, require=require_lpips, device=model.device)
    shown = {(p.name if burst else p.stem): (list_images(p)[0] if burst else p) for p, _ in pairs}
    others = compared(compare or {}, shown, scale)
    rows, images = [], {}
    for lr_path, gt_path in tqdm(pairs, desc="SR", unit="img"):
        name = lr_path.name if burst else lr_path.stem
        gt = read_image(gt_path) if gt_path is not None else None
        if burst:  # tiles cut through every frame at once: the frames travel as channels
            frames = read_burst(lr_path)

            def run(x: torch.Tensor, count: int = frames.shape[0]) -> torch.Tensor:
                return model.infer(x.unflatten(1, (count, 3)))
            sr = apply_tiled(run, frames.flatten(0, 1)[None], tile, OVERLAP, scale, model.device)[0]
        else:
            sr = apply_tiled(model.infer, read_image(lr_path)[None], tile, OVERLAP, scale, model.device)[0]
        sr_path = out_dir / "sr" / f"{name}.png"
        write_image(sr_path, sr)
        bicubic = imresize(read_image(shown[name])[None], scale=scale)[0].clamp(0, 1)
        images[name] = {"lr": shown[name], "bicubic": bicubic, **others[name], "sr": sr_path,
                        **({"gt": gt_path} if gt_path else {})}
        if gt is not None:
            rows += rows_from_scores([name], score_file(gt_path, sr.to(model.device), gt.to(model.device), resolved,
                                                        lpips))
        else:
            rows.append({"name": name} | dict.fromkeys(METRIC_KEYS))
    note = lpips.reason if lpips is not None and not lpips.available else None
    if gt_dir is not None:
        if note:
            print(f"LPIPS unavailable: {note}", file=sys.stderr)
        write_csv(out_dir / "metrics.csv", rows, resolved)
        write_json(out_dir / "metrics.json", rows, resolved, lpips_note=note)
        print(format_table(rows, resolved))
    write_html_report(out_dir, rows, resolved, images, lpips_note=note,
                      title=f"SR x{scale}: {input_dir.name}" + ("" if gt_dir else " (no GT)"))
    return rows


@user_errors_exit_2
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-opt", "--opt", help="config; weights from its path.pretrain_network_g unless --model_path")
    parser.add_argument("--model_path", help="checkpoint (deflow, or BasicSR {params, params_ema} with -opt)")
    parser.add_argument("--input", required=True, type=Path, help="folder of LR images (of burst folders for a multi-frame model)")
    parser.add_argument("--gt", type=Path, help="folder of GT images, same names (optional)")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--metrics", default="rwsr_rgb", choices=list(PRESETS), help="metric preset")
    parser.add_argument("--crop-border", type=int, default=None, help="default: the preset's, else the scale")
    parser.add_argument("--tile", type=int, default=256, help="LR tile side; 0 = whole images")
    parser.add_argument("--require-lpips", action="store_true")
    parser.add_argument("--lpips-backbone", help="torchvision AlexNet/VGG weights for LPIPS")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--compare", nargs="+", default=[], metavar="LABEL=DIR",
                        help="other SR results of the same inputs, shown beside this one in the report")
    args = parser.parse_args(argv)
    if not args.opt and not args.model_path:
        raise UserError("give -opt CONF or --model_path CKPT (or both)")
    compare = parse_compare(args.compare)
    tile = tile_option(args.tile, OVERLAP)
    model = load_for_inference(args.model_path, args.opt, args.device)
    if model.INFER_INPUT is None:
        raise UserError(f"{args.model_path or args.opt}: a {type(model).__name__} is not an SR model")
    with torch.no_grad(), staged_folder(args.out, "--out", (args.input, args.gt)) as stage:
        evaluate(model, args.input, stage, args.gt, args.metrics, args.crop_border, tile, args.lpips_backbone,
                 args.require_lpips, compare)
    print(f"SR images in {args.out / 'sr'}; report {args.out / 'report.html'}")


if __name__ == "__main__":
    main()
