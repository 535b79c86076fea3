"""DASR's kernel sweep: blind SR models on test images blurred with fixed isotropic Gaussians, two protocols reported
apart, as they are in the literature (they must not share a table):

    per width   DASR's Table 2: PSNR on the Y channel (basicsr_y, shave = scale) for each kernel width, 0 = bicubic
                only (default widths per scale: x2 0 0.6 1.2 1.8, x3 0 0.8 1.6 2.4, x4 0 1.2 2.4 3.6)
    Gaussian8   IKC / DAN: 8 widths evenly spaced (x2 [0.80, 1.60], x3 [1.35, 2.40], x4 [1.80, 3.20]), PSNR averaged

    python scripts/bench_dasr.py --test HR_DIR --out DIR --model dasr=CKPT --model bicubic=CKPT [--sigmas 1.2 2.0 ...]
    python scripts/bench_dasr.py --train --photos HR_DIR --test HR_DIR --out DIR     # train the three models first

--train trains, into DIR/runs/ (a finished training is reused), DASR from --dasr-config (default
confs/cpu/dasr-tiny-x2.yml) and two baselines of the same budget (deflow/bench/confs/blindsr-rrdb-x2.yml, a small
RRDBNet with DASR's data, crops, batch, iterations and seed): `bicubic`, on bicubic-only LR, and `random`, on DASR's
own random degradations without the encoder. The LR test images are made from the HR ones (MATLAB bicubic after the
blur, 8-bit rounding; official test.py); no model is told the kernel. Writes DIR/results.json and DIR/results.md.
"""
import argparse
import json
import re
import time
from datetime import datetime
from importlib.resources import files
from pathlib import Path

import torch
import yaml

from deflow.config import load_options
from deflow.data.transforms import mod_crop
from deflow.errors import UserError, user_errors_exit_2
from deflow.imageio import list_images, read_image
from deflow.models.loading import load_for_inference
from deflow.outputs import output_folder
from deflow.trainer import train
from metrics import score
from sr.dasr.probe import fixed_degradation

PER_WIDTH = {2: [0.0, 0.6, 1.2, 1.8], 3: [0.0, 0.8, 1.6, 2.4], 4: [0.0, 1.2, 2.4, 3.6]}  # DASR, Table 2
GAUSSIAN8 = {2: (0.80, 1.60), 3: (1.35, 2.40), 4: (1.80, 3.20)}  # IKC / DAN (greatlog/DAN README)
BASELINE_CONFIG = files("deflow.bench") / "confs/blindsr-rrdb-x2.yml"
DASR_CONFIG = Path("confs/cpu/dasr-tiny-x2.yml")


def gaussian8(scale: int) -> list[float]:
    lo, hi = GAUSSIAN8[scale]
    return [round(lo + (hi - lo) * i / 7, 4) for i in range(8)]


@torch.no_grad()
def psnr_y(model, hr_images: list[torch.Tensor], sigma: float, scale: int) -> list[float]:
    """PSNR (Y, shave = scale) of the model's SR of each HR image degraded with the fixed kernel `sigma`."""
    values = []
    for i, hr in enumerate(hr_images):
        lr = fixed_degradation(scale, sigma)(hr[None].to(model.device), torch.Generator().manual_seed(i))
        values.append(float(score(model.infer(lr), hr[None].to(model.device), "basicsr_y", scale=scale)["psnr"][0]))
    return values


def evaluate(models: dict, hr_images: list[torch.Tensor], sigmas: list[float], scale: int) -> dict:
    table = {"per_width": {}, "gaussian8": {}}
    for name, model in models.items():
        table["per_width"][name] = {f"{s:g}": sum(v := psnr_y(model, hr_images, s, scale)) / len(v) for s in sigmas}
        g8 = [sum(v := psnr_y(model, hr_images, s, scale)) / len(v) for s in gaussian8(scale)]
        table["gaussian8"][name] = sum(g8) / len(g8)
    return table


def stage_times(log: Path, encoder_iters: int, total: int) -> dict | None:
    """Seconds of stage 1 and stage 2 from a train.log's timestamps (start, the line of iteration encoder_iters,
    the last iteration)."""
    stamps = {}
    for line in log.read_text().splitlines():
        found = re.match(r"(\S+ \S+) INFO (?:iter (\d+) |experiment )", line)
        if found:
            stamps[int(found.group(2) or 0)] = datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S")
    if not {0, encoder_iters, total} <= set(stamps):
        return None
    return {"stage1_s": (stamps[encoder_iters] - stamps[0]).total_seconds(),
            "stage2_s": (stamps[total] - stamps[encoder_iters]).total_seconds()}


def train_models(args) -> dict[str, Path]:
    """DASR and its two same-budget baselines, trained into args.out/runs (finished ones reused); their checkpoints."""
    dasr = load_options(args.dasr_config, [f"datasets.train.dataroot_gt={args.photos}"])
    if dasr["scale"] != 2:
        raise UserError(f"--dasr-config {args.dasr_config}: scale {dasr['scale']}; the packaged baselines are x2")
    ds, total = dasr["datasets"]["train"], dasr["train"]["total_iter"]
    budget = {"datasets.train.dataroot_gt": str(args.photos), "datasets.train.gt_size": ds["gt_size"],
              "datasets.train.batch_size_per_gpu": ds["batch_size_per_gpu"], "train.total_iter": total,
              "manual_seed": dasr["manual_seed"], "train.scheduler.milestones": [total * 9 // 11],
              "logger.save_checkpoint_freq": total}
    runs = {"dasr": (args.dasr_config, {"datasets.train.dataroot_gt": str(args.photos)}),
            "bicubic": (BASELINE_CONFIG, {**budget, "train.degradation": "bicubic"}),
            "random": (BASELINE_CONFIG, {**budget, "train.degradation": dasr["train"]["degradation"]})}
    checkpoints = {}
    for name, (config, sets) in runs.items():
        root = args.out / "runs" / name
        checkpoint = root / "checkpoints" / f"iter_{total:08d}.pth"
        if not checkpoint.exists():
            started = time.time()
            overrides = [f"{k}={json.dumps(v) if isinstance(v, (list, dict)) else v}" for k, v in sets.items()]
            train(load_options(config, [*overrides, f"path.experiments_root={root}", f"name=bench_dasr_{name}"]),
                  resume="auto")
            print(f"trained {name} in {time.time() - started:.0f} s", flush=True)
        checkpoints[name] = checkpoint
    return checkpoints


def markdown(report: dict) -> str:
    per_width, names = report["per_width"], list(report["per_width"])
    sigmas = list(next(iter(per_width.values())))
    lines = [f"PSNR (dB) on Y, shave {report['scale']}, {len(report['test_images'])} test images "
             f"({', '.join(report['test_images'])}); blind: no model is told the kernel.", "",
             "Per kernel width (DASR's protocol, Table 2):", "",
             "| model | " + " | ".join(f"sigma {s}" for s in sigmas) + " |", "|---" * (len(sigmas) + 1) + "|"]
    lines += [f"| {n} | " + " | ".join(f"{per_width[n][s]:.2f}" for s in sigmas) + " |" for n in names]
    g8 = ", ".join(f"{s:g}" for s in report["gaussian8_widths"])
    lines += ["", f"Gaussian8 (IKC / DAN protocol, widths {g8}, averaged):", "", "| model | PSNR |", "|---|---|"]
    lines += [f"| {n} | {report['gaussian8'][n]:.2f} |" for n in names]
    return "\n".join(lines) + "\n"


@user_errors_exit_2
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--test", type=Path, required=True, help="folder of HR test images")
    parser.add_argument("--out", type=Path, required=True, help="output folder (results.json, results.md)")
    parser.add_argument("--model", action="append", default=[], metavar="NAME=CKPT", help="a model to evaluate")
    parser.add_argument("--train", action="store_true", help="train DASR and the two baselines first")
    parser.add_argument("--photos", type=Path, help="HR training photos (with --train)")
    parser.add_argument("--dasr-config", type=Path, default=DASR_CONFIG, help="DASR's config (with --train)")
    parser.add_argument("--sigmas", type=float, nargs="+", help="kernel widths of the per-width table "
                        "(default: DASR's Table 2 widths of the scale)")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    models = {}
    for item in args.model:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise UserError(f"--model {item}: expected NAME=CKPT, e.g. dasr=runs/dasr/checkpoints/iter_00002200.pth")
        models[name] = Path(path)
    if args.train and args.photos is None:
        raise UserError("--train needs --photos, the folder of HR training photos")
    if not args.train and not models:
        raise UserError("nothing to evaluate: give --model NAME=CKPT (or --train --photos DIR)")
    hr_paths = list_images(args.test)
    output_folder(args.out, "--out", (args.test, args.photos))
    if args.train:
        models = {**train_models(args), **models}
    loaded = {name: load_for_inference(path, device=args.device) for name, path in models.items()}
    scales = {m.scale for m in loaded.values()}
    if len(scales) != 1 or next(iter(scales)) not in PER_WIDTH:
        raise UserError(f"the models must share one scale of 2, 3 or 4; got {sorted(scales)}")
    scale = scales.pop()
    hr_images = [mod_crop(read_image(p), scale, str(p)) for p in hr_paths]
    for path, img in zip(hr_paths, hr_images):
        if min(img.shape[-2:]) < 4 * scale:  # the LR image, less the shave of `scale` px on every side
            raise UserError(f"{path}: {img.shape[-1]}x{img.shape[-2]} is too small for the sweep (at least "
                            f"{4 * scale} px a side at x{scale})")
    sigmas = args.sigmas or PER_WIDTH[scale]
    started = time.time()
    report = {"scale": scale, "test_images": [p.stem for p in hr_paths], "metric": "basicsr_y PSNR, shave = scale",
              "models": {n: str(p) for n, p in models.items()}, "gaussian8_widths": gaussian8(scale),
              **evaluate(loaded, hr_images, sigmas, scale)}
    report["eval_seconds"] = time.time() - started
    for name, path in models.items():
        log, opt = Path(path).parents[1] / "train.log", loaded[name].opt
        if log.exists() and "encoder_iters" in opt["train"]:
            report.setdefault("stage_times", {})[name] = stage_times(log, opt["train"]["encoder_iters"],
                                                                      opt["train"]["total_iter"])
    (args.out / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "results.md").write_text(markdown(report))
    print(markdown(report), flush=True)
    if "stage_times" in report:
        print(yaml.safe_dump(report["stage_times"]), flush=True)
