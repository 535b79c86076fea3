"""The PSF benchmark: degradation transfer on a planted camera, its loss ablation, and restoration.

    python scripts/bench_psf.py --out bench_psf [--fit-iters 1200] [--ablation-iters 600] [--restore-iters 800]
        [--restore-crop 48] [--skip-ablation] [--skip-restoration]

1. `psf_transfer.py synth`: the planted field, rendered calibration targets and the planted camera's photos;
2. the fit (confs/cpu/psf-transfer.yml) and one fit per loss term with its weight set to 0: mean per-kernel L1
   distance to the planted PSFs and the re-blur PSNR of held-out photos (the fitted camera against the planted one,
   noise-free, sRGB, a kernel-size border cropped), and what each prior controls in the raw kernels
   (deflow.psf.losses.kernel_diagnostics);
3. restoration of held-out photos degraded by the planted field with sensor noise: the blurred input, Wiener with
   the fitted field (1/SNR chosen on the training photos
   degraded by the fitted field, never on the test), deep Wiener, FOV-KPN and FOV-KPN without coordinates,
   both trained on pairs made by the *fitted* field from other photos.
Writes OUT/results.md and OUT/results.json; every run's folder stays under OUT, and a finished fit or training is
reused, so a second call (e.g. without --skip-*) only scores.
"""
import argparse
import json
from pathlib import Path

import torch

from deflow.errors import UserError, user_errors_exit_2
from deflow.imageio import list_images, read_image, write_image

ROOT = Path(__file__).resolve().parents[2]
TRAIN_PHOTOS = ("hubble_deep_field", "immunohistochemistry", "retina", "motorcycle_left", "motorcycle_right")
INV_SNRS = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0)
ABLATIONS = {"full": [], "alpha=0 (no fidelity)": ["train.alpha=0.0"], "beta=0 (no sum-to-one)": ["train.beta=0.0"],
             "gamma=0 (no boundary)": ["train.gamma=0.0"], "delta=0 (no symmetry)": ["train.delta=0.0"],
             "beta=1 (sum-to-one x1000)": ["train.beta=1.0"], "delta=1 (symmetry x1000)": ["train.delta=1.0"]}


def fit_field(out: Path, synth: Path, iters: int, overrides: list[str]) -> dict:
    from deflow.psf.cli import fit

    sets = [f"train.total_iter={iters}", f"train.scheduler.milestones=[{int(iters * 0.6)},{int(iters * 0.85)}]",
            "val.metrics=[reblur_psnr,kernel_l1]", f"val.val_freq={iters}", f"logger.save_checkpoint_freq={iters}"]
    if not (out / "psf_field.safetensors").is_file():
        fit(synth / "calib" / "sharp", synth / "calib" / "blurred", out, ROOT / "confs/cpu/psf-transfer.yml",
            sets + overrides, synth / "planted.safetensors",
            (synth / "heldout" / "sharp", synth / "heldout" / "blurred"))
    last = out / "experiment" / "checkpoints" / f"iter_{iters:08d}.pth"
    return reblur_scores(out / "psf_field.safetensors", synth) | raw_kernel_diagnostics(last)


def planted_diagnostics(synth: Path, checkpoint: Path) -> dict:
    """The reference row: kernel_diagnostics of the planted PSFs against the fit's rings (same grid and sizes)."""
    from deflow.models.loading import load_for_inference
    from deflow.psf.losses import kernel_diagnostics
    from degradations.blur import pad_kernels
    from degradations.psf import load_psf_field

    rings = load_for_inference(checkpoint, device="cpu", expected_type="PSFTransferModel").boundary_masks
    planted = pad_kernels(load_psf_field(synth / "planted.safetensors")[0], rings.shape[-1])
    return {"kernel_l1": 0.0, "reblur_psnr": float("inf")} | kernel_diagnostics(planted, rings)


def raw_kernel_diagnostics(checkpoint: Path) -> dict:
    """kernel_diagnostics of the fit's raw kernels (before the export renormalises them) against each node's ring."""
    from deflow.models.loading import load_for_inference
    from deflow.psf.losses import kernel_diagnostics

    model = load_for_inference(checkpoint, device="cpu", expected_type="PSFTransferModel")
    with torch.no_grad():
        return kernel_diagnostics(model.net_for_inference("g")(), model.boundary_masks)


def reblur_scores(field_path: Path, synth: Path) -> dict:
    from deflow.psf.model import kernel_distance
    from deflow.psf.synthetic import build_isp, capture
    from degradations.psf import load_psf_field
    from metrics.psnr import psnr

    fitted, planted = load_psf_field(field_path)[0], load_psf_field(synth / "planted.safetensors")[0]
    isp = build_isp("chen_phone")
    border = planted.shape[-1] // 2
    values = [float(psnr(capture(read_image(p)[None], fitted, isp), capture(read_image(p)[None], planted, isp), border))
              for p in list_images(synth / "heldout" / "sharp")]
    return {"kernel_l1": kernel_distance(fitted, planted), "reblur_psnr": sum(values) / len(values)}


def photo_sets(out: Path, synth: Path) -> tuple[Path, Path]:
    """Training photos (other scenes than the held-out ones, three framings each), sensor-sized."""
    from deflow.psf.cli import sensor_crop
    from deflow.tools.sample_photos import photo

    h, w = read_image(list_images(synth / "heldout" / "sharp")[0]).shape[-2:]
    train = out / "photos" / "train"
    if not train.is_dir():
        for name in TRAIN_PHOTOS:
            img = photo(name)
            for zoom in (1.0, 0.7, 0.5):
                ch, cw = int(img.shape[-2] * zoom), int(img.shape[-1] * zoom)
                top, left = (img.shape[-2] - ch) // 2, (img.shape[-1] - cw) // 2
                framed = sensor_crop(img[:, top:top + ch, left:left + cw], h, w)
                write_image(train / f"{name}_{zoom}.png", framed, bits=16)
    return train, synth / "heldout" / "sharp"


def restore_scores(model, dataset) -> dict:
    from metrics.psnr import psnr
    from metrics.ssim import ssim

    p, s, pin, sin = [], [], [], []
    for i in range(len(dataset)):
        item = dataset[i]
        out = model.infer(item["lq"][None], item["coords"][None]) if model is not None else item["lq"][None]
        p.append(float(psnr(out, item["gt"][None]))), s.append(float(ssim(out, item["gt"][None])))
    return {"psnr": sum(p) / len(p), "ssim": sum(s) / len(s)}


def run_restoration(out: Path, synth: Path, field: Path, iters: int, crop: int | None, seed: int = 0) -> dict:
    from deflow.config import load_options
    from deflow.models.loading import load_for_inference
    from deflow.trainer import train
    from sr.psf.dataset import PSFPairDataset

    train_dir, heldout = photo_sets(out, synth)
    test = PSFPairDataset({"dataroot_gt": str(heldout), "psf_field": str(synth / "planted.safetensors"), "phase": "val",
                           "manual_seed": 123})
    tune = PSFPairDataset({"dataroot_gt": str(train_dir), "psf_field": str(field), "phase": "val", "manual_seed": 7})
    rows = {"blurred input": restore_scores(None, test)}
    best = max((restore_scores(wiener(field, e), tune)["psnr"], e) for e in INV_SNRS)[1]
    rows[f"Wiener (fitted field, 1/SNR {best:g})"] = restore_scores(wiener(field, best), test)
    runs = {"deep Wiener": ("psf-deep-wiener.yml", ["network_g.field_path=" + str(field)]),
            "FOV-KPN": ("psf-fovkpn.yml", []),
            "FOV-KPN without coordinates": ("psf-fovkpn.yml", ["network_g.use_coords=false"])}
    for label, (config, extra) in runs.items():
        suffix = (f"_crop{crop}" if crop else "") + (f"_seed{seed}" if seed else "")
        root = out / "restore" / (label.replace(" ", "_") + suffix)
        sets = [f"datasets.train.dataroot_gt={train_dir}", f"datasets.train.psf_field={field}",
                f"datasets.val.dataroot_gt={heldout}", f"datasets.val.psf_field={synth / 'planted.safetensors'}",
                f"path.experiments_root={root}", f"train.total_iter={iters}",
                f"train.scheduler.milestones=[{int(iters * .75)}]",
                "val.val_freq=null", f"logger.save_checkpoint_freq={iters}", *extra]
        sets += ([f"datasets.train.gt_size={crop}"] if crop else []) + [f"manual_seed={seed}"]
        last = root / "checkpoints" / f"iter_{iters:08d}.pth"
        if not last.is_file():
            train(load_options(ROOT / "confs" / "cpu" / config, sets))
        model = load_for_inference(last, device="cpu")
        rows[label] = restore_scores(model, test) | {"parameters": sum(p.numel() for p in model.nets["g"].parameters())}
    return rows


def wiener(field: Path, inv_snr: float):
    from deflow.config import resolve_options
    from deflow.models.loading import load_for_inference  # noqa: F401  (plugins)
    from deflow.registry import MODELS, load_plugins

    load_plugins()
    opt = resolve_options({"name": "wiener", "model_type": "PSFWienerModel",
                           "network_g": {"type": "WienerField", "field_path": str(field), "inv_snr": inv_snr}},
                          training=False)
    model = MODELS.get("PSFWienerModel")(opt, torch.device("cpu"))
    model.train(False)
    return model


def markdown(fits: dict, restore: dict) -> str:
    lines = ["## Degradation transfer on the planted field (held-out photos, noise-free re-blur)", "",
             "Kernel L1: normalised kernels against the planted ones. The last four columns are of the raw kernels "
             "(before renormalisation): mean |1 - sum k|, asymmetry ||k - k(-x)||_1 / 2||k||_1, share of ||k||_1 "
             "on each node's boundary ring, share of ||k||_1 below zero.", "",
             "| fit | kernel L1 | re-blur PSNR (dB) | sum error | asymmetry | ring energy | negative mass |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {k} | {v['kernel_l1']:.4f} | {v['reblur_psnr']:.2f} | {v['sum_error']:.4f} | {v['asymmetry']:.4f} "
              f"| {v['ring_energy']:.4f} | {v['negative_mass']:.4f} |" for k, v in fits.items()]
    lines += ["", "## Restoration of held-out photos (planted field + sensor noise; sRGB, 8-bit)", "",
              "| method | PSNR (dB) | SSIM | parameters |", "| --- | --- | --- | --- |"]
    lines += [f"| {k} | {v['psnr']:.3f} | {v['ssim']:.4f} | {v.get('parameters', 0)} |" for k, v in restore.items()]
    return "\n".join(lines) + "\n"


@user_errors_exit_2
def main(argv=None):
    parser = argparse.ArgumentParser(prog="scripts/bench_psf.py", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench_psf"))
    parser.add_argument("--fit-iters", type=int, default=1200)
    parser.add_argument("--ablation-iters", type=int, default=600)
    parser.add_argument("--restore-iters", type=int, default=800)
    parser.add_argument("--restore-crop", type=int, default=None, help="training crop of the restoration networks "
                        "(default: the configs' gt_size, 64)")
    parser.add_argument("--restore-seed", type=int, default=0, help="manual_seed of the restoration trainings")
    parser.add_argument("--skip-ablation", action="store_true")
    parser.add_argument("--skip-restoration", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    if args.restore_crop is not None and (args.restore_crop < 16 or args.restore_crop % 4):
        raise UserError(f"--restore-crop {args.restore_crop}: give a multiple of 4, at least 16 "
                        "(the CPU FOV-KPN halves it twice)")
    if args.restore_seed < 0:
        raise UserError(f"--restore-seed {args.restore_seed}: give a seed >= 0")
    torch.set_num_threads(args.threads)
    from deflow.psf.cli import synth

    out = args.out
    if not (out / "synth" / "planted.safetensors").is_file():
        synth(out / "synth")
    fits = {"full": fit_field(out / "fit" / "full", out / "synth", args.fit_iters, [])}
    last = out / "fit" / "full" / "experiment" / "checkpoints" / f"iter_{args.fit_iters:08d}.pth"
    fits["planted (reference)"] = planted_diagnostics(out / "synth", last)
    if not args.skip_ablation:
        for label, sets in ABLATIONS.items():
            folder = out / "fit" / f"ablation_{label.split()[0].replace('=', '')}"
            fits[f"{label}, {args.ablation_iters} it"] = fit_field(folder, out / "synth", args.ablation_iters, sets)
    restore = {} if args.skip_restoration else run_restoration(
        out, out / "synth", out / "fit" / "full" / "psf_field.safetensors", args.restore_iters, args.restore_crop,
        args.restore_seed)
    (out / "results.json").write_text(json.dumps({"fits": fits, "restoration": restore}, indent=2) + "\n")
    text = markdown(fits, restore)
    (out / "results.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
