"""Abnormal situations met in training, each reproduced small with the framework's own code, and measured.

    python scripts/training_incidents.py --out DIR [--deflow-iters 100] [--sr-iters 600] [--threads 1]

writes DIR/incidents.json ({"run": {command, date, wall_seconds, machine}, "incidents": [{name, what_happened,
what_the_framework_does, code, evidence}]}; every number's key names its unit) and DIR/incidents.md. About two
minutes on one core. The training runs are the framework's own (deflow.trainer.train), watched and perturbed from
outside by deflow/bench/observed_training.py.

    non_finite_loss            a NaN loss and an infinite gradient injected into a tiny SR run of deflow.trainer.train:
                               the iterations skipped, whether a skipped one changed any weight, EMA or optimizer state
                               (bitwise), and where a run of them stops
    shift_at_zero              the gradient of DeFlow's NLL w.r.t. the shift's A on one batch at A = 0 (the official
                               configs) and at A = 0.01 I (deflow's std_init_shift), and A after training from each
    blended_tiles_halve_noise  the std of pure noise joined over tile overlaps by deflow.tiling.apply_tiled, ramp
                               against cut, next to sqrt(w^2 + (1 - w)^2)
    ema_initial_weights        what an EMA keeps of the first weights, the framework's rule measured on indicator
                               weights against a fixed decay (BasicSR's model_ema), and the PSNR of the raw, the EMA
                               and a fixed-decay EMA along a short SR run
"""
import argparse
import copy
import inspect
import json
import math
import os
import re
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import default_collate

from deflow import checkpoint
from deflow.bench.benchmark import CONFIGS
from deflow.bench.deflow_check import known_degradation
from deflow.bench.observed_training import (bitwise_equal, injected_nonfinite, logged_warnings, nan_pixel_batch,
                                            train_observed, training_state)
from deflow.bench.run import machine
from deflow.config import load_options
from deflow.errors import UserError, user_errors_exit_2
from deflow.imageio import write_image
from deflow.models.base import EMA
from deflow.outputs import output_folder
from deflow.registry import ARCHS, DATASETS, MODELS
from deflow.tiling import apply_tiled
from deflow.tools.create_dataset import build
from deflow.tools.sample_photos import photo
from deflow.tools.translate import OVERLAP
from degradations.resize import imresize
from metrics.psnr import psnr

TRAIN_PHOTOS = ["rocket", "immunohistochemistry", "motorcycle_left", "coffee"]
TEST_PHOTOS = ["chelsea", "astronaut", "motorcycle_right"]
DEGRADED_PHOTOS = ["hubble_deep_field", "retina", "astronaut"]
DEGRADED_NOISE_8BIT = 8.0  # the DeFlow run's degraded domain: Gaussian noise of this std, 8-bit units
UNITS = ("_db", "_count", "_ratio", "_norm", "_px", "_iteration", "_iterations", "_8bit", "_value", "_seconds")
FIELDS = ("name", "what_happened", "what_the_framework_does", "code", "evidence")


# ---------------------------------------------------------------- data and observed training runs

def crops(names: list[str], size: int, per_photo: int) -> list[tuple[str, torch.Tensor]]:
    """`per_photo` crops (3, size, size) from each photo, spread along its diagonal."""
    out = []
    for name in names:
        img = photo(name)
        height, width = img.shape[-2:]
        for i in range(per_photo):
            top, left = ((height - size) * (i + 1) // (per_photo + 1), (width - size) * (i + 1) // (per_photo + 1))
            out.append((f"{name}_{i}", img[:, top:top + size, left:left + size]))
    return out


def lr_of(gt: torch.Tensor, scale: int) -> torch.Tensor:
    return imresize(gt[None], scale=1 / scale)[0].clamp(0, 1)


def write_sr_pairs(folder: Path, names: list[str], size: int, per_photo: int, scale: int = 2) -> None:
    """folder/gt/<crop>.png and their bicubic LR folder/lq/<crop>.png."""
    for name, gt in crops(names, size, per_photo):
        write_image(folder / "gt" / f"{name}.png", gt)
        write_image(folder / "lq" / f"{name}.png", lr_of(gt, scale))


def sr_options(work: Path, name: str, sets: list[str]) -> dict:
    """The benchmark's SR config (a small x2 RRDBNet) on tiny pairs in `work/sr_data`, CPU, no validation."""
    train, test = work / "sr_data/train", work / "sr_data/test"
    if not train.exists():
        write_sr_pairs(train, TRAIN_PHOTOS, 96, 3)
        write_sr_pairs(test, TEST_PHOTOS, 96, 2)
    data = [f"datasets.{phase}.dataroot_{kind}={folder / kind}" for phase, folder in (("train", train), ("val", test))
            for kind in ("gt", "lq")]
    return load_options(CONFIGS["sr"], [*data, "num_gpu=0", "datasets.train.gt_size=32",
                                        "datasets.train.batch_size_per_gpu=4", "val.val_freq=null",
                                        f"path.experiments_root={work / name}", *sets])


# ---------------------------------------------------------------- 1. non-finite loss and the guard

def non_finite_loss(work: Path) -> dict:
    nan_at, inf_at, total, stop_from, limit, nan_pixel_at = (4, 5), (9,), 12, 6, 3, 2
    states, records = [], []

    def record(t, bad):
        states.append(training_state(t))
        records.append({"bad": bad, "nonfinite": t.nonfinite, "lr": t.optimizers["g"].param_groups[0]["lr"]})

    opt = sr_options(work, "nonfinite", [f"train.total_iter={total}", f"train.warmup_iter={total}",
                                         "train.ema_decay=0.999"])
    with injected_nonfinite(nan_at, inf_at):
        train_observed(opt, on_start=lambda t: states.append(training_state(t)), on_iteration=record)
    skipped = [i for i, r in enumerate(records, 1) if r["bad"]]
    taken = [i for i, r in enumerate(records, 1) if not r["bad"]]
    steps = [v.item() for k, v in states[-1].items() if k.startswith("optim/") and k.endswith("/step")]

    stop_opt = sr_options(work, "nonfinite_stop", ["train.total_iter=50", f"train.max_nonfinite={limit}",
                                                   "logger.save_checkpoint_freq=5"])
    with injected_nonfinite(range(stop_from, 10 ** 9)):
        try:
            train_observed(stop_opt)
            message = "finished without stopping"
        except UserError as exc:
            message = str(exc)
    stopped = re.search(r"stopped at iteration (\d+)", message)
    last_good = re.search(r"last good checkpoint: (\S+);", message)
    good_state = checkpoint.load(last_good.group(1)) if last_good else None
    root = stop_opt["path"]["experiments_root"]
    with nan_pixel_batch(nan_pixel_at):
        deflow_root = train_observed(deflow_options(work, "nonfinite_deflow", [f"train.total_iter={nan_pixel_at + 1}"]))
    return {
        "name": "non_finite_loss",
        "what_happened": "A loss or a gradient that is NaN or infinite would write NaN into every weight at the "
                         "optimizer's step (and into Adam's moments and the EMA), so one bad batch ends the run.",
        "what_the_framework_does": "Every stage's losses are checked before backward and every network's gradient "
                                   "norm before any optimizer steps; if one is not finite, no network, optimizer or "
                                   "EMA changes in that iteration, the log names the loss (or network), and the "
                                   "guard counts consecutive skips: train.max_nonfinite in a row stop the run with "
                                   "one line naming the last good checkpoint. A DeFlow model's log line also names "
                                   "the first flow layer whose output was not finite. A skipped iteration still "
                                   "counts toward train.total_iter and advances the learning-rate schedule.",
        "code": "deflow/trainer.py:guard",
        "evidence": {
            "total_iter_count": total,
            "iterations_run_count": len(records),
            "injected_nan_loss_iterations": list(nan_at),
            "injected_infinite_gradient_iterations": list(inf_at),
            "skipped_iterations": skipped,
            "skip_reasons": [r["bad"] for r in records if r["bad"]],
            "optimizer_steps_count": int(steps[0]),
            "consecutive_nonfinite_after_each_iteration_count": [r["nonfinite"] for r in records],
            "skipped_steps_left_weights_bitwise_unchanged": all(
                bitwise_equal(states[i - 1], states[i], "net/") for i in skipped),
            "skipped_steps_left_ema_and_optimizer_bitwise_unchanged": all(
                bitwise_equal(states[i - 1], states[i], "ema/") and bitwise_equal(states[i - 1], states[i], "optim/")
                for i in skipped),
            "taken_steps_changed_weights": all(not bitwise_equal(states[i - 1], states[i], "net/") for i in taken),
            "schedule_advanced_on_skipped_iterations": all(records[i - 1]["lr"] != records[i - 2]["lr"]
                                                           for i in skipped),
            "log_lines": logged_warnings(Path(opt["path"]["experiments_root"])),
            "max_nonfinite_default_count": opt["train"]["max_nonfinite"],
            "stop_max_nonfinite_count": limit,
            "stop_injected_nan_from_iteration": stop_from,
            "stop_iteration": int(stopped.group(1)) if stopped else None,
            "stop_message": message.replace(root, "<experiment>"),
            "last_good_checkpoint_iteration": good_state["iteration"] if good_state else None,
            "last_good_checkpoint_all_finite": bool(good_state) and all(
                torch.isfinite(v).all().item() for v in good_state["model"]["nets"]["g"].values()),
            "deflow_nan_pixel_at_iteration": nan_pixel_at,
            "deflow_nan_pixel_log_lines": logged_warnings(deflow_root),
        },
    }


# ---------------------------------------------------------------- 2. the shift's A at zero

def deflow_options(work: Path, name: str, sets: list[str]) -> dict:
    """The benchmark's DeFlow config (confs/cpu/deflow-tiny.yml's options) on 32 px crops of clean photos and of
    other photos with Gaussian noise of DEGRADED_NOISE_8BIT, CPU, batches of 4."""
    data = work / "deflow_data"
    if not data.exists():
        h = load_options(CONFIGS["deflow"])["network_g"].get("h")  # the conditioning of the config's h
        for domain, names in (("clean", TRAIN_PHOTOS), ("degraded", DEGRADED_PHOTOS)):
            for i, (crop_name, img) in enumerate(crops(names, 128, 2)):
                if domain == "degraded":
                    img = known_degradation(img[None], 0.0, DEGRADED_NOISE_8BIT, seed=i)[0]
                write_image(data / "photos" / domain / f"{crop_name}.png", img)
            build(data / "photos" / domain, data / domain, [1, 4], log=lambda *_: None, h=h)
    roots = [f"datasets.train.dataroot_{d}_{k}={data / d / s}" for d in ("clean", "degraded")
             for k, s in (("gt", "1x"), ("lq", "4x"))]
    return load_options(CONFIGS["deflow"], [*roots, "num_gpu=0", "datasets.train.gt_size=32",
                                            "datasets.train.batch_size_per_gpu=4", "logger.use_tb_logger=false",
                                            f"path.experiments_root={work / name}", *sets])


def shift_gradients(opt: dict) -> dict[str, dict[str, float]]:
    """{level: {A, mean_shift}: gradient norm} of the NLL of one batch (half clean, half degraded) through the
    model's DeFlowNet, the weights and every random draw seeded by the config's manual_seed."""
    checkpoint.seed_all(opt["manual_seed"])
    model = MODELS.get(opt["model_type"])(opt, torch.device("cpu"))
    data_opt = opt["datasets"]["train"]
    data = DATASETS.get(data_opt["type"])(data_opt)
    n, half = data_opt["batch_size_per_gpu"], len(data) // 2
    batch = default_collate([data[i] for i in [*range(n // 2), *range(half, half + n - n // 2)]])
    model.train()
    model.losses(batch, model.forward_train(batch), "g")["nll"].backward()
    return {level: {"A": shift.A.grad.norm().item(), "A_max_abs": shift.A.grad.abs().max().item(),
                    "mean_shift": shift.mean_shift.grad.norm().item()}
            for level, shift in model.nets["g"].shifts.items()}


def shift_at_zero(work: Path, iters: int) -> dict:
    grads, trained = {}, {}
    default = inspect.signature(ARCHS.get("DeFlowNet")).parameters["std_init_shift"].default
    for content in (True, False):
        for init in (0.0, default):
            grads[content, init] = shift_gradients(deflow_options(work, "shift_grad", [
                f"network_g.std_init_shift={init}", f"network_g.content_shift={str(content).lower()}"]))
    for init in (0.0, default):
        opt = deflow_options(work, f"shift_{init}", [f"network_g.std_init_shift={init}", f"train.total_iter={iters}",
                                                     f"logger.save_checkpoint_freq={iters}"])
        root = train_observed(opt)
        trained[init] = checkpoint.load(root / "checkpoints" / f"iter_{iters:08d}.pth")["model"]["nets"]["g"]
    levels = sorted(grads[True, 0.0], key=int)

    def grad(content: bool, init: float, key: str) -> list[float]:
        return [grads[content, init][level][key] for level in levels]

    def norm(init: float, key: str) -> list[float]:
        return [trained[init][f"shifts.{level}.{key}"].norm().item() for level in levels]

    return {
        "name": "shift_at_zero",
        "what_happened": "The official DeFlow configs start the shift's covariance factor A at 0. The degraded "
                         "domain's covariance is I + A A^T, and the NLL's gradient w.r.t. A is (G + G^T) A, G its "
                         "gradient w.r.t. A A^T: exactly 0 at A = 0, so A never leaves 0 and the released models "
                         "learned only a mean shift (their translations add no sampled noise).",
        "what_the_framework_does": "network_g.std_init_shift starts every level's A at std_init_shift * I (the "
                                   "default in evidence), where the gradient is not 0 and A learns; "
                                   "std_init_shift: 0 reproduces the official models. Measured on the DeFlowNet of "
                                   "confs/cpu/deflow-tiny.yml (content shift on) and with the paper's shift "
                                   "(content_shift: false).",
        "code": "deflow/flow/shift.py:DomainShift",
        "evidence": {
            "latent_levels_value": [int(level) for level in levels],
            "A_grad_norm_at_A0_per_level_norm": grad(True, 0.0, "A"),
            "A_grad_max_abs_at_A0_value": max(grad(True, 0.0, "A_max_abs")),
            "A_grad_norm_at_default_init_per_level_norm": grad(True, default, "A"),
            "mean_shift_grad_norm_at_A0_per_level_norm": grad(True, 0.0, "mean_shift"),
            "paper_shift_A_grad_max_abs_at_A0_value": max(grad(False, 0.0, "A_max_abs")),
            "paper_shift_A_grad_norm_at_default_init_per_level_norm": grad(False, default, "A"),
            "training_iterations": iters,
            "degraded_domain_noise_std_8bit": DEGRADED_NOISE_8BIT,
            "std_init_shift_default_value": default,
            "A_frobenius_at_default_init_per_level_norm": [
                default * math.sqrt(trained[default][f"shifts.{level}.A"].shape[0]) for level in levels],
            "A_frobenius_after_training_from_A0_per_level_norm": norm(0.0, "A"),
            "A_frobenius_after_training_from_default_per_level_norm": norm(default, "A"),
            "mean_shift_after_training_from_A0_per_level_norm": norm(0.0, "mean_shift"),
            "mean_shift_after_training_from_default_per_level_norm": norm(default, "mean_shift"),
        },
    }


# ---------------------------------------------------------------- 3. blended tiles

def ramp_std_formula(overlap: int) -> list[float]:
    """sqrt(w^2 + (1 - w)^2) at each pixel of an overlap, w = (j + 1) / (overlap + 1) the next tile's weight."""
    return [math.hypot((j + 1) / (overlap + 1), (overlap - j) / (overlap + 1)) for j in range(overlap)]


def tile_noise(join: str, tile: int, overlap: int, tiles: int = 9, draws: int = 4, channels: int = 3) -> dict:
    """apply_tiled over a model that returns N(0, 1) noise for every tile: the std at each pixel offset into the
    overlaps (over every seam, both directions, off the other direction's overlaps), at the middle of the corners
    where four tiles meet, and away from any overlap."""
    size, step = tile + (tiles - 1) * (tile - overlap), tile - overlap
    generator = torch.Generator().manual_seed(0)

    def noise(x: torch.Tensor) -> torch.Tensor:
        return torch.randn(x.shape, generator=generator)

    out = torch.cat([apply_tiled(noise, torch.zeros(1, channels, size, size), tile, overlap, join=join)
                     for _ in range(draws)])
    in_overlap = torch.zeros(size, dtype=torch.bool)
    for k in range(1, tiles):
        in_overlap[k * step:k * step + overlap] = True
    outside = ~in_overlap
    seams = [k * step for k in range(1, tiles)]
    per_px = []
    for j in range(overlap):
        at = torch.tensor([s + j for s in seams])
        per_px.append(torch.cat([out[:, :, outside][:, :, :, at].flatten(), out[:, :, at][:, :, :, outside].flatten()])
                      .std().item())
    middle = torch.tensor([s + j for s in seams for j in (overlap // 2 - 1, overlap // 2)])
    return {"per_px": per_px, "corner_middle": out[:, :, middle][:, :, :, middle].std().item(),
            "interior": out[:, :, outside][:, :, :, outside].std().item(),
            "samples_per_px": 2 * draws * channels * len(seams) * int(outside.sum())}


def blended_tiles_halve_noise(tile: int = 96, overlap: int = OVERLAP) -> dict:
    ramp, cut = tile_noise("ramp", tile, overlap), tile_noise("cut", tile, overlap)
    formula = ramp_std_formula(overlap)
    errors = [abs(m / f - 1) for m, f in zip(ramp["per_px"], formula)]
    return {
        "name": "blended_tiles_halve_noise",
        "what_happened": "Tiled inference blends overlapping tiles with linear ramps. For a stochastic model two "
                         "tiles draw independent noise, and a blend w a + (1 - w) b has std sqrt(w^2 + (1 - w)^2) "
                         "of it: 1/sqrt(2) in the middle of an overlap (half the variance), and the square of that "
                         "where four tiles meet, a visible grid of smoother bands in DeFlow's translations.",
        "what_the_framework_does": "deflow.tiling.apply_tiled has two joins: ramp (blend, for deterministic models) "
                                   "and cut (every pixel from the one tile that holds it farthest from its edge, the "
                                   "seam in the middle of the overlap); translate.py cuts in the stochastic modes "
                                   "(degrade, sample_*) and blends only in restore. Measured with translate.py's "
                                   "overlap on a model that returns N(0, 1) noise.",
        "code": "deflow/tiling.py:apply_tiled",
        "evidence": {
            "tile_px": tile, "overlap_px": overlap, "samples_per_overlap_px_count": ramp["samples_per_px"],
            "noise_std_value": 1.0,
            "ramp_std_per_overlap_px_ratio": ramp["per_px"],
            "ramp_formula_std_per_overlap_px_ratio": formula,
            "ramp_max_relative_error_vs_formula_ratio": max(errors),
            "ramp_min_std_ratio": min(ramp["per_px"]),
            "ramp_formula_min_std_ratio": min(formula),
            "one_over_sqrt2_ratio": 1 / math.sqrt(2),
            "ramp_corner_middle_std_ratio": ramp["corner_middle"],
            "ramp_formula_corner_middle_std_ratio": min(formula) ** 2,
            "ramp_interior_std_ratio": ramp["interior"],
            "cut_std_per_overlap_px_ratio": cut["per_px"],
            "cut_max_deviation_from_1_ratio": max(abs(s - 1) for s in [*cut["per_px"], cut["corner_middle"]]),
            "cut_corner_middle_std_ratio": cut["corner_middle"],
        },
    }


# ---------------------------------------------------------------- 4. EMA and the initial weights

def ema_shares(decay: float, steps: int) -> torch.Tensor:
    """(steps + 1,) the share of the initial weights (index 0) and of the weights after step k (index k) in
    deflow's EMA after `steps` updates: measured by updating it with indicator weights (step k's weights = e_k)."""
    net = nn.Module()
    net.w = nn.Parameter(torch.zeros(steps + 1, dtype=torch.float64), requires_grad=False)
    ema = EMA(decay)
    for k in range(1, steps + 1):
        net.w.zero_()
        net.w[k] = 1
        ema.update(net)
    return ema.net.w.detach().clone()


def fixed_decay_shares(decay: float, steps: int) -> torch.Tensor:
    """The same for BasicSR's model_ema (basicsr/models/sr_model.py): started as a copy of the initial network,
    then ema = decay ema + (1 - decay) w after every step: decay^steps for the initial weights."""
    k = torch.arange(steps + 1, dtype=torch.float64)
    shares = (1 - decay) * decay ** (steps - k)
    shares[0] = decay ** steps
    return shares


@torch.no_grad()
def mean_psnr(net: nn.Module, pairs: list[tuple[torch.Tensor, torch.Tensor]], scale: int) -> float:
    return torch.cat([psnr(net(lq[None]).clamp(0, 1), gt[None], crop_border=scale) for lq, gt in pairs]).mean().item()


def ema_initial_weights(work: Path, iters: int, decay: float = 0.999) -> dict:
    opt = sr_options(work, "ema", [f"train.total_iter={iters}", f"train.ema_decay={decay}",
                                   f"logger.save_checkpoint_freq={iters}"])
    scale = opt["scale"]
    pairs = [(lr_of(gt, scale), gt) for _, gt in crops(TEST_PHOTOS, 96, 2)]
    evaluate_at = sorted({max(1, iters * k // 12) for k in (1, 2, 4, 8, 12)})
    fixed, curves = {}, {"raw": [], "ema": [], "fixed": []}

    def on_iteration(t, bad):
        live = t.model.nets["g"]
        if bad is None:
            for avg, w in zip(fixed["net"].parameters(), live.parameters()):
                avg.lerp_(w.detach(), 1 - decay)
        if t.iteration in evaluate_at:
            for key, net in (("raw", live), ("ema", t.model.emas["g"].net), ("fixed", fixed["net"])):
                curves[key].append(mean_psnr(net, pairs, scale))

    def on_start(t):
        fixed["net"] = copy.deepcopy(t.model.nets["g"]).requires_grad_(False)

    train_observed(opt, on_start=on_start, on_iteration=on_iteration)
    shares, reference = ema_shares(decay, iters), fixed_decay_shares(decay, iters)
    warm = [min(decay, k / (k + 9)) for k in range(2, iters + 1)]
    return {
        "name": "ema_initial_weights",
        "what_happened": "An EMA of a fixed decay d started from the initial network (BasicSR's model_ema) still "
                         "holds d^n of the random initial weights after n steps, so in a short run the EMA model, "
                         "which inference uses, is much worse than the raw weights.",
        "what_the_framework_does": "deflow.models.base.EMA starts from the weights after the first step (never the "
                                   "random ones) and warms its decay up as min(decay, (1 + n) / (10 + n)) after n "
                                   "updates (the num_updates rule of TensorFlow's ExponentialMovingAverage), so "
                                   "early weights fade polynomially; the camera benchmark's SR config "
                                   "also lowers ema_decay (its value in evidence). Measured on that config with "
                                   "ema_decay_value instead, on crops of held-out photos.",
        "code": "deflow/models/base.py:EMA",
        "evidence": {
            "ema_decay_value": decay, "run_iterations": iters,
            "benchmark_sr_config_ema_decay_value": sr_options(work, "ema", [])["train"]["ema_decay"],
            "initial_weights_share_fixed_decay_formula_ratio": decay ** iters,
            "initial_weights_share_framework_measured_ratio": shares[0].item(),
            "first_step_weights_share_framework_measured_ratio": shares[1].item(),
            "first_step_weights_share_framework_formula_ratio": math.prod(warm),
            "first_half_share_fixed_decay_formula_ratio": reference[:iters // 2 + 1].sum().item(),
            "first_half_share_framework_measured_ratio": shares[:iters // 2 + 1].sum().item(),
            "last_tenth_share_framework_measured_ratio": shares[iters - iters // 10 + 1:].sum().item(),
            "psnr_evaluated_at_iterations": evaluate_at,
            "psnr_raw_db": curves["raw"],
            "psnr_ema_framework_db": curves["ema"],
            "psnr_ema_fixed_decay_db": curves["fixed"],
            "psnr_bicubic_db": torch.cat([psnr(imresize(lq[None], scale=scale).clamp(0, 1), gt[None],
                                               crop_border=scale) for lq, gt in pairs]).mean().item(),
            "psnr_ema_framework_minus_raw_final_db": curves["ema"][-1] - curves["raw"][-1],
            "psnr_ema_fixed_decay_minus_raw_final_db": curves["fixed"][-1] - curves["raw"][-1],
        },
    }


# ---------------------------------------------------------------- the report

def check_report(report: dict) -> None:
    """The schema make_report.py reads; a number whose key names no unit (UNITS) is an error too."""
    if set(report) != {"run", "incidents"} or set(report["run"]) != {"command", "date", "wall_seconds", "machine"}:
        raise ValueError(f"report keys {sorted(report)} / run keys {sorted(report.get('run', {}))}")
    for incident in report["incidents"]:
        if tuple(incident) != FIELDS or not re.fullmatch(r"[\w/]+\.py:\w+", incident["code"]):
            raise ValueError(f"incident {incident.get('name')}: keys {list(incident)}, code {incident.get('code')!r}")
        for key, value in incident["evidence"].items():
            numbers = value if isinstance(value, list) else [value]
            if any(isinstance(v, (int, float)) and not isinstance(v, bool) for v in numbers) \
                    and not key.endswith(UNITS):
                raise ValueError(f"incident {incident['name']}: evidence {key!r} names no unit ({', '.join(UNITS)})")


def shown(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return "[" + ", ".join(shown(v) for v in value) + "]"
    return str(value)


def markdown(report: dict) -> str:
    run = report["run"]
    lines = ["# Abnormal situations met in training", "",
             f"`{run['command']}` on {run['machine']}, {run['date']}, {run['wall_seconds']:.0f} s.", ""]
    for incident in report["incidents"]:
        lines += [f"## {incident['name']}", "", f"- what happened: {incident['what_happened']}",
                  f"- what the framework does: {incident['what_the_framework_does']}",
                  f"- code: `{incident['code']}`", "- evidence:"]
        lines += [f"  - {key}: {shown(value)}" for key, value in incident["evidence"].items()]
        lines.append("")
    return "\n".join(lines)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for incidents.json and incidents.md")
    parser.add_argument("--deflow-iters", type=int, default=100, help="DeFlow iterations from each init of A")
    parser.add_argument("--sr-iters", type=int, default=600, help="iterations of the EMA's SR run")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args(argv)
    for flag in ("deflow_iters", "sr_iters", "threads"):
        if getattr(args, flag) < 1:
            raise UserError(f"--{flag.replace('_', '-')} {getattr(args, flag)}: give 1 or more")
    return args


@user_errors_exit_2
def main(argv=None) -> dict:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    out = output_folder(args.out, "--out")
    torch.set_num_threads(args.threads)
    started, load = time.time(), os.getloadavg()[0]
    date = datetime.now().astimezone().isoformat(timespec="seconds")
    with tempfile.TemporaryDirectory(prefix="incidents-") as tmp:
        work = Path(tmp)
        incidents = [non_finite_loss(work), shift_at_zero(work, args.deflow_iters), blended_tiles_halve_noise(),
                     ema_initial_weights(work, args.sr_iters)]
    report = {"run": {"command": " ".join(["python scripts/training_incidents.py", *argv]),
                      "date": date,
                      "wall_seconds": time.time() - started,
                      "machine": machine(load, "at start", f"cpu, {args.threads} thread(s)")},
               "incidents": incidents}
    check_report(report)
    (out / "incidents.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "incidents.md").write_text(markdown(report) + "\n")
    print(markdown(report), flush=True)
    return report
