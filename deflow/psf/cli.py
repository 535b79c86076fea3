"""Degradation transfer from the command line: a planted camera's calibration set, the fit, the field file.

    python scripts/psf_transfer.py synth --out DIR [--size 160 240] [--grid 4 6] [--targets 8] [--seed 0]
    python scripts/psf_transfer.py fit --sharp DIR --blurred DIR --out DIR [-opt CONF] [--set KEY=VALUE ...]
        [--planted FIELD] [--val-sharp DIR --val-blurred DIR]
    python scripts/psf_transfer.py export --checkpoint CKPT --out DIR [--planted FIELD]

`synth` writes DIR/planted.safetensors (the planted field), DIR/calib/{sharp,blurred}/ (rendered targets and the
planted camera's 16-bit photos of them) and DIR/heldout/{sharp,blurred}/ (skimage photos, never used in the fit).
`fit` trains PSFTransferModel through deflow's trainer (DIR/experiment/) and `export` reads a checkpoint; both write
DIR/psf_field.safetensors (safetensors, grid and sizes in its metadata) and DIR/psf_field.html (the fitted PSF grid,
beside the planted one with --planted).
"""
import argparse
from pathlib import Path

import torch

from deflow.errors import UserError, user_errors_exit_2
from deflow.imageio import write_image
from deflow.outputs import output_folder, staged_folder

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "confs" / "cpu" / "psf-transfer.yml"
HELDOUT_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")


def sensor_crop(img: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """The centre of `img` resized (area) so that it covers h x w, cropped to h x w: a photo framed like the sensor."""
    from torch.nn.functional import interpolate

    scale = max(h / img.shape[-2], w / img.shape[-1])
    size = (max(h, round(img.shape[-2] * scale)), max(w, round(img.shape[-1] * scale)))
    img = interpolate(img[None], size=size, mode="area" if scale < 1 else "bilinear", align_corners=None)[0]
    top, left = (img.shape[-2] - h) // 2, (img.shape[-1] - w) // 2
    return img[:, top:top + h, left:left + w].clamp(0, 1)


def synth(out: Path, size=(160, 240), grid=(4, 6), targets: int = 8, kernel_sizes=(7, 9, 11), shot: float = 1e-5,
          read: float = 1e-7, seed: int = 0, isp: str = "chen_phone") -> None:
    from deflow.psf.synthetic import build_isp, calibration_targets, capture, planted_field
    from deflow.tools.sample_photos import photo
    from degradations.psf import save_psf_field

    field = planted_field(grid, max(kernel_sizes), kernel_sizes)
    camera = build_isp(isp)
    g = torch.Generator().manual_seed(seed)
    with staged_folder(out, "--out") as stage:
        save_psf_field(stage / "planted.safetensors", field, {"kernel_sizes": list(kernel_sizes), "source": "planted"})
        for i, target in enumerate(calibration_targets(*size, targets, seed)):
            write_image(stage / "calib" / "sharp" / f"target{i:02d}.png", target, bits=16)
            write_image(stage / "calib" / "blurred" / f"target{i:02d}.png", capture(target[None], field, camera, shot,
                                                                                   read, g)[0], bits=16)
        for name in HELDOUT_PHOTOS:
            sharp = sensor_crop(photo(name), *size)
            write_image(stage / "heldout" / "sharp" / f"{name}.png", sharp, bits=16)
            write_image(stage / "heldout" / "blurred" / f"{name}.png", capture(sharp[None], field, camera)[0], bits=16)
    print(f"planted field {out / 'planted.safetensors'}; calibration pairs in {out / 'calib'}; held-out in "
          f"{out / 'heldout'}")


def export(model, out: Path, planted: Path | None, extra: dict | None = None) -> dict:
    """Write the model's fitted field and its page into `out`; returns the measurements shown on the page."""
    from deflow.psf.model import kernel_distance
    from deflow.psf.page import write_field_page
    from degradations.psf import load_psf_field, save_psf_field

    field = model.fitted_field().cpu()
    net = model.net_for_inference("g")
    reference = load_psf_field(planted)[0] if planted else None
    metrics = dict(extra or {})
    if reference is not None:
        metrics["mean per-kernel L1 to the planted field"] = kernel_distance(field, reference)
    meta = {"kernel_sizes": sorted({int(s) for s in net.node_sizes.flatten()}), "isp": model.opt["isp"],
            "source": f"PSFTransferModel {model.opt['name']}"}
    with staged_folder(out, "--out") as stage:
        save_psf_field(stage / "psf_field.safetensors", field, meta)
        write_field_page(stage, field, reference, metrics, title=f"PSF field: {model.opt['name']}")
    print(f"field {out / 'psf_field.safetensors'}; page {out / 'psf_field.html'}")
    return metrics


def fit(sharp: Path, blurred: Path, out: Path, config: Path, overrides: list[str], planted: Path | None,
        val: tuple[Path, Path] | None = None) -> dict:
    from deflow.config import load_options
    from deflow.models.loading import load_for_inference
    from deflow.trainer import train

    output_folder(out, "--out", (sharp, blurred))
    sets = [f"datasets.train.dataroot_sharp={sharp}", f"datasets.train.dataroot_blurred={blurred}",
            f"path.experiments_root={out / 'experiment'}"]
    if val is not None:
        sets += [f"datasets.val.dataroot_sharp={val[0]}", f"datasets.val.dataroot_blurred={val[1]}"]
    else:
        sets += ["val.val_freq=null"]
    if planted is not None:
        sets += [f"val.planted_field={planted}"]
    opt = load_options(config, sets + list(overrides))
    if val is None:
        opt["datasets"].pop("val", None)
    if opt["model_type"] != "PSFTransferModel":
        raise UserError(f"{config}: is a {opt['model_type']} config; fit needs a PSFTransferModel config")
    root = train(opt)
    last = root / "checkpoints" / f"iter_{opt['train']['total_iter']:08d}.pth"
    return export(load_for_inference(last, device="cpu"), out, planted)


@user_errors_exit_2
def main(argv=None):
    parser = argparse.ArgumentParser(prog="scripts/psf_transfer.py", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("synth", help="a planted camera's calibration and held-out pairs")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--size", nargs=2, type=int, default=[160, 240], metavar=("H", "W"))
    p.add_argument("--grid", nargs=2, type=int, default=[4, 6], metavar=("GH", "GW"))
    p.add_argument("--kernel-sizes", nargs=3, type=int, default=[7, 9, 11])
    p.add_argument("--targets", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p = commands.add_parser("fit", help="fit a PSF field to (sharp, blurred) calibration pairs")
    p.add_argument("--sharp", required=True, type=Path, help="ideal renderings of the targets")
    p.add_argument("--blurred", required=True, type=Path, help="the camera's photos of them (same names)")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("-opt", "--opt", type=Path, default=DEFAULT_CONFIG, help="a PSFTransferModel config")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    p.add_argument("--planted", type=Path, help="a known field to compare with (synthetic calibration)")
    p.add_argument("--val-sharp", type=Path)
    p.add_argument("--val-blurred", type=Path)
    p = commands.add_parser("export", help="write the field file and page of a trained checkpoint")
    p.add_argument("--checkpoint", required=True, type=Path)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--planted", type=Path)
    args = parser.parse_args(argv)
    if args.command == "synth":
        if min(args.size) < 32 or min(args.grid) < 1 or args.targets < 1:
            raise UserError("synth: --size must be at least 32 px, --grid and --targets at least 1")
        if any(k % 2 == 0 or k < 1 for k in args.kernel_sizes):
            raise UserError(f"--kernel-sizes {args.kernel_sizes}: kernel sizes must be odd")
        synth(args.out, tuple(args.size), tuple(args.grid), args.targets, tuple(args.kernel_sizes), seed=args.seed)
    elif args.command == "fit":
        if (args.val_sharp is None) != (args.val_blurred is None):
            raise UserError("give both --val-sharp and --val-blurred, or neither")
        val = (args.val_sharp, args.val_blurred) if args.val_sharp else None
        fit(args.sharp, args.blurred, args.out, args.opt, args.set, args.planted, val)
    else:
        from deflow.models.loading import load_for_inference

        model = load_for_inference(args.checkpoint, device="cpu", expected_type="PSFTransferModel")
        export(model, args.out, args.planted)


if __name__ == "__main__":
    main()
