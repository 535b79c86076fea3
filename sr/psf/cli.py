"""Restore lens blur in whole photos with a PSF restorer: Wiener (-opt confs/cpu/psf-wiener.yml), deep Wiener or
FOV-KPN (--model_path CKPT of a PSFRestoreModel training).

    python scripts/psf_restore.py (-opt CONF | --model_path CKPT) --input DIR --out DIR [--gt DIR] [--device auto]

Each image is restored whole (the networks know where in the frame each pixel lies), written as DIR/<name>.png;
with --gt, PSNR / SSIM (RGB, 8-bit) per image and their mean are printed and written to DIR/metrics.json.
"""
import argparse
import json
from pathlib import Path

import torch

from deflow.errors import UserError, user_errors_exit_2
from deflow.imageio import list_images, read_image, write_image
from deflow.models.loading import load_for_inference
from deflow.outputs import staged_folder


@user_errors_exit_2
def main(argv=None):
    parser = argparse.ArgumentParser(prog="scripts/psf_restore.py", description=__doc__.splitlines()[0])
    parser.add_argument("-opt", "--opt", help="config (a Wiener config needs nothing else)")
    parser.add_argument("--model_path", help="checkpoint of a PSFRestoreModel")
    parser.add_argument("--input", required=True, type=Path)
    parser.add_argument("--gt", type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    if not args.opt and not args.model_path:
        raise UserError("give -opt CONF or --model_path CKPT (or both)")
    inputs = list_images(args.input)
    gts = {p.stem: p for p in list_images(args.gt)} if args.gt else {}
    missing = [p.name for p in inputs if args.gt and p.stem not in gts]
    if missing:
        raise UserError(f"{args.gt}: no GT image for {missing[0]}; name it like its input")
    model = load_for_inference(args.model_path, args.opt, args.device)
    if not hasattr(model, "infer") or model.INFER_INPUT != "image" or model.scale != 1:
        raise UserError(f"{args.model_path or args.opt}: is not a PSF restorer (scale 1, image input)")
    from metrics.psnr import psnr
    from metrics.ssim import ssim

    rows = {}
    with torch.no_grad(), staged_folder(args.out, "--out", (args.input, args.gt)) as stage:
        for path in inputs:
            lq = read_image(path)[None].to(model.device)
            restored = model.infer(lq)[0].cpu()
            write_image(stage / f"{path.stem}.png", restored)
            if args.gt:
                gt = read_image(gts[path.stem])
                if gt.shape != restored.shape:
                    raise UserError(f"{gts[path.stem]}: is {gt.shape[2]}x{gt.shape[1]}, its input {path} "
                                    f"{restored.shape[2]}x{restored.shape[1]}; GT must have the input's size")
                try:
                    rows[path.stem] = {"psnr": float(psnr(restored, gt)), "ssim": float(ssim(restored, gt))}
                except UserError as exc:
                    raise UserError(f"{path}: {exc}") from None
                print(f"{path.stem}: PSNR {rows[path.stem]['psnr']:.3f} dB, SSIM {rows[path.stem]['ssim']:.4f}")
        if rows:
            mean = {k: sum(r[k] for r in rows.values()) / len(rows) for k in ("psnr", "ssim")}
            print(f"mean: PSNR {mean['psnr']:.3f} dB, SSIM {mean['ssim']:.4f}")
            (stage / "metrics.json").write_text(json.dumps({"images": rows, "mean": mean}, indent=2) + "\n")
    print(f"restored images in {args.out}")


if __name__ == "__main__":
    main()
