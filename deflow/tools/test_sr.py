"""Run a trained SR model over a folder of low-resolution images; score and report when GT is given.

    python scripts/test_sr.py (-opt CONF | --model_path CKPT) --input LR_DIR [--gt GT_DIR] --out DIR
        [--metrics rwsr_rgb] [--crop-border N] [--tile 256] [--require-lpips] [--lpips-backbone FILE] [--device auto]

Writes DIR/sr/<name>.png, and with GT: DIR/metrics.csv, DIR/metrics.json (per image and mean, preset named) and
DIR/report.html (table worst-first, PSNR/SSIM plot, LR | SR | GT with a zoomed crop); without GT the report shows
LR | SR only.
"""
import argparse
import sys
from pathlib import Path

import torch
from tqdm import tqdm

from deflow.cli import user_errors_exit_2
from deflow.errors import UserError
from deflow.imageio import image_size, list_images, read_image, write_image
from deflow.models.loading import load_for_inference
from deflow.tiling import apply_tiled
from metrics.cli import match_by_stem
from metrics.lpips_metric import load_lpips
from metrics.presets import PRESETS, resolve_preset, score
from metrics.report import format_table, rows_from_scores, write_csv, write_html_report, write_json


def check_gt_sizes(pairs: list[tuple[Path, Path]], scale: int) -> None:
    """Every GT is exactly `scale` times its LR image (checked from the file headers, before any work)."""
    for lr_path, gt_path in pairs:
        (lh, lw), (gh, gw) = image_size(lr_path), image_size(gt_path)
        if (gh, gw) != (lh * scale, lw * scale):
            raise UserError(f"{gt_path} is {gw}x{gh} but {lr_path} is {lw}x{lh}: "
                            f"GT must be exactly {scale}x the LR image (the model's scale)")


def evaluate(model, input_dir: Path, out_dir: Path, gt_dir: Path | None = None, preset: str = "rwsr_rgb",
             crop_border: int | None = None, tile: int | None = 256, lpips_backbone=None, require_lpips=False):
    """SR every image of `input_dir` into out_dir/sr; with `gt_dir`, score and report. Returns the rows."""
    input_dir, out_dir = Path(input_dir), Path(out_dir)
    scale = model.scale
    if gt_dir is not None:
        pairs = match_by_stem(input_dir, Path(gt_dir))
        check_gt_sizes(pairs, scale)
    else:
        pairs = [(path, None) for path in list_images(input_dir)]
    resolved = resolve_preset(preset, crop_border, scale)
    lpips = None
    if gt_dir is not None and resolved.lpips_net is not None:
        lpips = load_lpips(resolved.lpips_net, lpips_backbone, require=require_lpips, device=model.device)
    rows, images = [], {}
    for lr_path, gt_path in tqdm(pairs, desc="SR", unit="img"):
        lr = read_image(lr_path)
        gt = read_image(gt_path) if gt_path is not None else None
        sr = apply_tiled(model.infer, lr[None], tile, overlap=16, scale=scale, device=model.device)[0]
        sr_path = out_dir / "sr" / f"{lr_path.stem}.png"
        write_image(sr_path, sr)
        images[lr_path.stem] = {"lr": lr_path, "sr": sr_path, **({"gt": gt_path} if gt_path else {})}
        if gt is not None:
            rows += rows_from_scores([lr_path.stem], score(sr.to(model.device), gt.to(model.device), resolved,
                                                           lpips=lpips))
        else:
            rows.append({"name": lr_path.stem, "psnr": None, "ssim": None, "lpips": None})
    note = lpips.reason if lpips is not None and not lpips.available else None
    if gt_dir is not None:
        if note:
            print(f"LPIPS unavailable: {note}", file=sys.stderr)
        write_csv(out_dir / "metrics.csv", rows, resolved)
        write_json(out_dir / "metrics.json", rows, resolved, lpips_note=note)
        print(format_table(rows, resolved))
    report = write_html_report(out_dir, rows, resolved, images, lpips_note=note,
                               title=f"SR x{scale}: {input_dir.name}" + ("" if gt_dir else " (no GT)"))
    print(f"SR images in {out_dir / 'sr'}; report {report}")
    return rows


@user_errors_exit_2
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-opt", "--opt", help="config; weights from its path.pretrain_network_g unless --model_path")
    parser.add_argument("--model_path", help="checkpoint (deflow, or BasicSR {params, params_ema} with -opt)")
    parser.add_argument("--input", required=True, type=Path, help="folder of LR images")
    parser.add_argument("--gt", type=Path, help="folder of GT images, same names (optional)")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--metrics", default="rwsr_rgb", choices=list(PRESETS), help="metric preset")
    parser.add_argument("--crop-border", type=int, default=None, help="default: the preset's, else the scale")
    parser.add_argument("--tile", type=int, default=256, help="LR tile side; 0 = whole images")
    parser.add_argument("--require-lpips", action="store_true")
    parser.add_argument("--lpips-backbone", help="torchvision AlexNet/VGG weights for LPIPS")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    if not args.opt and not args.model_path:
        raise UserError("give -opt CONF (with path.pretrain_network_g) or --model_path CKPT")
    if args.out.resolve() in (args.input.resolve(), args.gt.resolve() if args.gt else None):
        raise UserError(f"--out {args.out} is an input folder; choose another folder")
    model_path = args.model_path
    if model_path is None:
        from deflow.config import load_options
        model_path = load_options(args.opt)["path"]["pretrain_network_g"]
        if not model_path:
            raise UserError(f"{args.opt}: path.pretrain_network_g is empty; set it or pass --model_path")
    model = load_for_inference(model_path, args.opt, args.device)
    if not hasattr(model, "scale"):
        raise UserError(f"{model_path}: a {type(model).__name__} is not an SR model")
    with torch.no_grad():
        evaluate(model, args.input, args.out, args.gt, args.metrics, args.crop_border, args.tile or None,
                 args.lpips_backbone, args.require_lpips)


if __name__ == "__main__":
    main()
