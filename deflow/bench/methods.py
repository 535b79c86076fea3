"""The camera benchmark's methods: how each makes the LR images of the SR training pairs from the clean photos.

    bicubic      MATLAB bicubic x2 and nothing else
    white_noise  bicubic + Gaussian noise, its std fitted so the noise estimate equals the real domain's
    pg_fit       bicubic + heteroscedastic Gaussian noise, variance a x + b per channel, fitted on the real domain by
                 the unpaired noise-level-function estimator (metrics/realism/nlf.py)
    realesrgan   the blind random pipeline (degradations preset realesrgan)
    deflow       the bicubic LR translated by DeFlow (--deflow-config) trained on the bicubic LR of the clean photos
                 (clean domain) against the real domain, its conditioning made with the config's network_g.h,
                 each model the one of --deflow-candidates nearest the real noise-level function (pick_model), its
                 noise floor raised to the real domain's noise-level function (translate --noise-floor)
    oracle       the true camera
    dasr         no pairs: DASR (sr/dasr) trained blind on the clean photos under random degradations
                 (deflow/bench/confs/dasr-bench-x2.yml: anisotropic blur and noise, DASR's general setting at x2),
                 scored on the camera's test LR like the others; its LR folder (for the realism columns) is one draw
                 of those degradations

and DeFlow's ablation (--ablation), without the model pick unless named: deflow_plain (the paper's DeFlow: its h
bicubic_noise, no content shift, shared split priors, no domain filter, heat 1, no noise floor), then each of
deflow's switches alone on it: deflow_content_shift, deflow_split_prior, deflow_domain_filter, deflow_config_h
(--deflow-config's h), deflow_heat_auto (translate --heat auto), deflow_noise_floor (translate --noise-floor); then
deflow with one thing changed: deflow_no_pick (models 0 .. deflow_seeds - 1 of deflow's, no pick),
deflow_scaled_floor (translate --noise-floor scaled) and deflow_keep_colour (translate --keep-colour 4), both picked,
and deflow_latent_scale (network_g.latent_scale, against deflow_no_pick).

A new method is one entry of METHODS. Each function takes the `Bench` (benchmark.py) that runs it.
"""
import hashlib
import json
import statistics
import threading
from dataclasses import dataclass
from functools import partial
from importlib.resources import files
from pathlib import Path
from typing import Callable

import torch

from deflow.bench.run import overrides
from deflow.checkpoint import write_atomic
from deflow.config import load_options
from deflow.errors import UserError
from deflow.imageio import list_images, read_image
from deflow.tools.create_dataset import build
from degradations.jpeg import quantize
from degradations.noise import gaussian_noise
from degradations.pipeline import Pipeline
from metrics.noise import noise_std
from metrics.realism import estimate_nlf, nlf_distance
from metrics.realism.nlf import missing_variance_line
from sr.dasr.degrade import build_pipeline


@dataclass(frozen=True)
class Method:
    """make_lr(bench, seed, folder) -> the folder holding the LR images of the clean photos for `seed` (`folder`
    unless the images are shared by all seeds); setup(bench): once, after the camera's images, before any training
    (a quick fit); train(bench) -> jobs: once, each job in a slot of its own, and the method's SR runs wait for all
    of them; folder(budget):
    the method's folder name where its images depend on more than the seed (default: its name). Methods that
    share a `train` function share its training."""
    make_lr: Callable[..., Path]
    setup: Callable[..., None] | None = None
    train: Callable[..., list] | None = None
    folder: Callable[..., str] | None = None
    ablation: bool = False  # run with --ablation (or when named in --methods)
    sr_training: Callable[..., tuple] | None = None  # (bench, iters) -> (config, its --set options): a model of its
    # own instead of --sr-config on the method's pairs (a blind model that degrades the clean photos itself)


def bicubic_lr(bench, seed: int, folder: Path) -> Path:
    return bench.bicubic_lr  # made once by Bench.prepare: DeFlow's clean domain and the white-noise fit use it too


def oracle_lr(bench, seed: int, folder: Path) -> Path:
    return bench.degrade(bench.camera, "clean", folder, seed, f"oracle LR seed {seed}")


def realesrgan_lr(bench, seed: int, folder: Path) -> Path:
    return bench.degrade(Pipeline.from_name_or_file("realesrgan", 2), "clean", folder, seed,
                         f"realesrgan LR seed {seed}")


DASR_CONFIG = files("deflow.bench") / "confs/dasr-bench-x2.yml"


def dasr_lr(bench, seed: int, folder: Path) -> Path:
    pipeline = build_pipeline(load_options(DASR_CONFIG)["train"]["degradation"], 2)
    return bench.degrade(pipeline, "clean", folder, seed, f"dasr random degradations seed {seed}")


def dasr_training(bench, iters: int) -> tuple[Path, dict]:
    """DASR's two stages in the same iteration budget as the paired methods: 5/11 encoder alone (DASR: 100 of 600
    epochs, more here because the contrastive stage is cheap), the learning rates falling as in the config."""
    encoder = iters * 5 // 11
    return DASR_CONFIG, {"datasets.train.dataroot_gt": bench.photos("clean"), "train.encoder_iters": encoder,
                         "train.scheduler_e.milestones": [max(1, encoder * 3 // 5)],
                         "train.scheduler_g.milestones": [encoder + (iters - encoder) * 2 // 3]}


# ---------------------------------------------------------------- white_noise

def fit_white_noise_sigma(clean_lr: list[torch.Tensor], target: float) -> float:
    """The Gaussian noise std (8-bit units) that, added to the clean LR images and rounded to 8 bit, gives a mean
    `noise_std` of `target`: bisection, one fixed noise draw (so the estimate grows monotonically with the std)."""
    def measured(sigma: float) -> float:
        generator = torch.Generator().manual_seed(0)
        return statistics.mean(noise_std(quantize(gaussian_noise(img[None], sigma / 255, generator=generator))[0])
                               for img in clean_lr)

    lo, hi = 0.0, 128.0
    if measured(lo) >= target:
        return 0.0
    for _ in range(14):  # to 128 / 2^14 < 0.01
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if measured(mid) < target else (lo, mid)
    return (lo + hi) / 2


def fit_white_noise(bench) -> None:
    target = bench.info["noise_std_8bit"]["real_domain"]
    sigma = fit_white_noise_sigma([read_image(p) for p in list_images(bench.bicubic_lr)], target)
    bench.info["white_noise_sigma_8bit"] = sigma
    bench.progress("white_noise", f"fitted sigma {sigma:.2f}/255 (real domain noise estimate {target:.2f})")


def bicubic_plus_noise(noise_steps: list[dict], name: str) -> Pipeline:
    """MATLAB bicubic x2, the given noise steps, 8-bit rounding."""
    return Pipeline.from_config([{"op": "resize", "params": {"relative_to": "lr", "mode": "imresize"}},
                                 *noise_steps, {"op": "quantize"}], 2, name)


def white_noise_lr(bench, seed: int, folder: Path) -> Path:
    sigma = round(bench.info["white_noise_sigma_8bit"], 3)
    pipeline = bicubic_plus_noise([{"op": "gaussian_noise", "params": {"sigma": sigma}}], "white_noise_fitted")
    return bench.degrade(pipeline, "clean", folder, seed, f"white_noise LR seed {seed}")


# ---------------------------------------------------------------- pg_fit

def fit_pg_noise(bench) -> None:
    """The per-channel noise to add to the bicubic LR: the real domain's variance line minus the bicubic LR's own
    (the clean photos' residual noise and fine texture in flat regions, as the estimator sees them), clipped at 0
    (metrics.realism.nlf.missing_variance_line). The estimate of the result matches the real domain's line where the
    real one is the larger, as white_noise's sigma is fitted to match after adding (both lines hold the 1/12 8-bit^2
    of 8-bit rounding, so the final rounding is accounted for)."""
    real, own = ([read_image(p) for p in list_images(folder)] for folder in (bench.real_lr, bench.bicubic_lr))
    added = missing_variance_line(real, own)
    if not added.isfinite().all():
        raise UserError(f"pg_fit: the real-domain images in {bench.real_lr} have too few flat, unclipped regions "
                        "for a noise-level function in some channel")
    bench.info["pg_fit"] = {"units": "per channel R, G, B: [a, b], noise variance (8-bit^2) = a * intensity + b, "
                                     "intensity in [0, 1]", "added": added.tolist()}
    bench.progress("pg_fit", f"added noise variance (8-bit^2) {shown_lines(added)}")


def shown_lines(lines: torch.Tensor) -> str:
    return "  ".join(f"{c} {a:.1f} x + {b:.1f}" for c, (a, b) in zip("RGB", lines.tolist()))


def pg_fit_lr(bench, seed: int, folder: Path) -> Path:
    steps = [{"op": "heteroscedastic_gaussian", "params": {"slope": round(a, 3), "floor": round(b, 3), "channel": c}}
             for c, (a, b) in enumerate(bench.info["pg_fit"]["added"])]
    return bench.degrade(bicubic_plus_noise(steps, "pg_fit_fitted"), "clean", folder, seed, f"pg_fit LR seed {seed}")


# ---------------------------------------------------------------- deflow

DEFAULT_HEAT = "1.0"  # --deflow-heat's default
PAPER_H = {"type": "bicubic_noise", "noise_std": 0.03}  # DeFlow's h: bicubic down + noise (its LR_noise_std)
PLAIN = {"network_g.content_shift": False, "network_g.domain_split_prior": False, "network_g.domain_filter": False,
         "network_g.h": PAPER_H}  # DeFlow as the paper has it
# deflow's training switches, each alone on the paper's DeFlow (config_h: --deflow-config's h)
SWITCHES = {"content_shift": {**PLAIN, "network_g.content_shift": True},
            "split_prior": {**PLAIN, "network_g.domain_split_prior": True},
            "domain_filter": {**PLAIN, "network_g.domain_filter": True},
            "config_h": {k: v for k, v in PLAIN.items() if k != "network_g.h"}}


def deflow_checkpoint(bench, model: int, training: str = "") -> Path:
    """DeFlow model `model` (0: the config's manual_seed, k: that seed + k) of the training `training` ("": the
    config as it is; an ablation's name: the config with that arm's overrides)."""
    iters = bench.budget.deflow_iters
    name = (f"{training}_" if training else "") + f"it{iters}" + (f"_seed{model}" if model else "")
    return bench.out / "deflow" / name / "checkpoints" / f"iter_{iters:08d}.pth"


def train_deflow(bench, training: str = "", sets: dict | None = None, pick: bool = True) -> list[Callable[[], None]]:
    """The trainings of `training`'s models not yet finished, one job each (deflow_models; `pick`: its methods pick
    among candidates). Their conditioning images are made with the training's network_g.h (`sets`, else
    --deflow-config's)."""
    iters, sets = bench.budget.deflow_iters, sets or {}
    config = load_options(bench.configs["deflow"])
    h, scale = sets.get("network_g.h", config["network_g"].get("h")), config["scale"]
    data = bench.out / "deflow/data" / conditioning_name(h)
    for domain, source in (("clean", bench.bicubic_lr), ("real", bench.real_lr)):
        build(source, data / domain, [1, scale], log=lambda line: None, h=h)
    folders = {"clean_gt": data / "clean/1x", "clean_lq": data / f"clean/{scale}x", "degraded_gt": data / "real/1x",
               "degraded_lq": data / f"real/{scale}x"}
    seed = config["manual_seed"]
    jobs = []
    for model in range(deflow_models(bench.budget, pick)):
        checkpoint = deflow_checkpoint(bench, model, training)
        if checkpoint.exists():
            bench.progress("deflow training", f"reusing {checkpoint}")
            continue
        options = {**{f"datasets.train.dataroot_{k}": v for k, v in folders.items()}, "train.total_iter": iters,
                   "train.scheduler.milestones": [iters * 2 // 3, iters * 13 // 15], "manual_seed": seed + model,
                   "train.warmup_iter": min(50, iters // 10), "logger.save_checkpoint_freq": max(100, iters // 3),
                   "logger.use_tb_logger": False, "path.experiments_root": checkpoint.parents[1], **sets}
        jobs.append(partial(bench.run_logged, f"deflow training {training or 'deflow'} {model} ({iters} it)", [
            bench.py, "-m", "deflow.train", "-opt", bench.configs["deflow"], "--resume", "auto",
            *overrides(options)], f"deflow_{checkpoint.parents[1].name}"))
    return jobs


def conditioning_name(h: dict | None) -> str:
    """The folder of the conditioning images made with network_g.h `h` (None: DeFlowNet's default h)."""
    if h is None:
        return "h_default"
    return f"h_{h['type']}_" + hashlib.sha1(json.dumps(h, sort_keys=True).encode()).hexdigest()[:8]


def deflow_models(budget, pick: bool = True) -> int:
    """The DeFlow models a training makes: deflow_seeds, times deflow_candidates where its methods pick."""
    return budget.deflow_seeds * (budget.deflow_candidates if pick else 1)


def pick_model(bench, group: int, folder: str, translate: Callable[[int, Path, int], None], count: int) -> int:
    """The model SR seeds s with s % deflow_seeds == `group` use: of the candidates group + deflow_seeds * j (j <
    `count`), the one whose translation of the clean photos' bicubic LR (`translate(model, out, seed)`,
    seed `group`) has the noise-level function nearest the real domain's. Unpaired, so a user can do the same: it
    needs the real LR and the clean images, no pair of them. The distances go to the record pick_records reads."""
    n = bench.budget.deflow_seeds
    if count == 1:
        return group
    record = pick_record(bench, folder, group)
    with PICKING:
        if not record.exists():
            distances = {}
            for model in (group + n * j for j in range(count)):
                out = bench.out / "lr" / folder / "candidates" / f"model{model}"
                if not bench.complete(out):
                    translate(model, out, group)
                distances[str(model)] = real_nlf_distance(bench, [read_image(p) for p in list_images(out)])
            measured = {m: d for m, d in distances.items() if d is not None}
            if not measured:
                raise UserError(f"{folder}: no candidate's noise-level function overlaps the real domain's in any "
                                "intensity bin; the models cannot be ranked (use --deflow-candidates 1)")
            text = json.dumps({"nlf_distance_8bit": distances, "chosen": int(min(measured, key=measured.get))})
            write_atomic(record, lambda f: f.write(text.encode()))
    return picked_model(bench, folder, group, count)


def picked_model(bench, folder: str, group: int, count: int) -> int:
    """The model pick_model chose for `group` of `count` candidates (its record); `group` itself for one."""
    if count == 1:
        return group
    return json.loads(pick_record(bench, folder, group).read_text())["chosen"]


def pick_record(bench, folder: str, group: int) -> Path:
    return bench.out / "deflow" / f"{folder}_pick_group{group}.json"


def pick_records(bench, folders: list[str]) -> dict:
    """'<folder> group <g>' -> the pick_model record of that group, for each folder's picks made so far."""
    return {f"{folder} group {group}": json.loads(record.read_text()) for folder in folders
            for group in range(bench.budget.deflow_seeds) if (record := pick_record(bench, folder, group)).exists()}


def real_nlf_distance(bench, images: list[torch.Tensor]) -> float | None:
    """The NLF distance (8-bit) of `images` to the real domain's; None where no intensity bin is measured in both."""
    distance = nlf_distance(estimate_nlf(images), bench.real_nlf)
    return None if distance != distance else distance


PICKING = threading.Lock()  # SR seeds of one group that start together pick once


def deflow_method(name: str, training: str = "", sets: dict | None = None, heat: str | None = None,
                  floor: str | None = None, keep_colour: float | None = None, pick: bool = True,
                  ablation: bool = False) -> Method:
    """DeFlow trained on the bicubic LR of the clean photos (clean domain) against the real domain, the bicubic LR
    translated. `training` names the DeFlow models (arms with the same name share them), `sets` their overrides of
    --deflow-config; `heat`: translate's --heat (None: --deflow-heat); `floor`: translate's --noise-floor mode (None:
    none); `keep_colour`: translate's --keep-colour sigma; `pick`: each model picked of --deflow-candidates
    (False: models 0 .. deflow_seeds - 1, no pick). Arms that share a training share the `pick` of its first."""
    def heat_of(budget) -> str:
        return heat or budget.deflow_heat

    def count(budget) -> int:
        return budget.deflow_candidates if pick else 1

    def folder(budget) -> str:
        models = f"_x{budget.deflow_seeds}" if budget.deflow_seeds > 1 else ""
        models += f"_pick{count(budget)}" if count(budget) > 1 else ""
        shown = f"_heat{budget.deflow_heat}" if heat is None and budget.deflow_heat != DEFAULT_HEAT else ""
        suffix = {None: "", "white": "_floor", "scaled": "_floor_scaled"}[floor]
        colour = f"_colour{keep_colour:g}" if keep_colour and "colour" not in name else ""
        return f"{name}_it{budget.deflow_iters}{models}{shown}" + ("" if "floor" in name else suffix) + colour

    def translate(bench, model: int, out: Path, seed: int) -> None:
        chosen = heat_of(bench.budget)
        real = ["--real", bench.real_lr] if chosen == "auto" or floor else []
        bench.run_logged(f"{name} translate seed {seed} (model {model})", [
            bench.py, "-m", "deflow.tools.translate", "--model_path",
            deflow_checkpoint(bench, model, training), "--source_dir", bench.bicubic_lr, "--out_dir", out,
            "--seed", seed, "--heat", chosen, *real, *(["--noise-floor", floor] if floor else []),
            *(["--keep-colour", keep_colour] if keep_colour else [])],
            f"{name}_translate_model{model}_seed{seed}")

    def make_lr(bench, seed: int, out: Path) -> Path:
        if not bench.complete(out):
            model = pick_model(bench, seed % bench.budget.deflow_seeds, folder(bench.budget),
                               partial(translate, bench), count(bench.budget))
            translate(bench, model, out, seed)
        return out

    train = TRAININGS.setdefault(training, partial(train_deflow, training=training, sets=sets, pick=pick))
    return Method(make_lr, train=train, folder=folder, ablation=ablation)


TRAININGS: dict[str, Callable] = {}  # one function per DeFlow training, so arms that share it train it once

METHODS = {
    "bicubic": Method(bicubic_lr),
    "white_noise": Method(white_noise_lr, setup=fit_white_noise),
    "pg_fit": Method(pg_fit_lr, setup=fit_pg_noise),
    "realesrgan": Method(realesrgan_lr),
    "deflow": deflow_method("deflow", floor="white"),
    "oracle": Method(oracle_lr),
    "dasr": Method(dasr_lr, sr_training=dasr_training),
    # the ablation (--ablation): DeFlow as the paper has it, each of deflow's switches alone on it, then deflow with
    # one thing changed
    "deflow_plain": deflow_method("deflow_plain", "plain", PLAIN, "1.0", pick=False, ablation=True),
    **{f"deflow_{name}": deflow_method(f"deflow_{name}", name, sets, "1.0", pick=False, ablation=True)
       for name, sets in SWITCHES.items()},
    "deflow_heat_auto": deflow_method("deflow_heat_auto", "plain", PLAIN, "auto", pick=False, ablation=True),
    "deflow_noise_floor": deflow_method("deflow_noise_floor", "plain", PLAIN, "1.0", floor="white", pick=False,
                                        ablation=True),
    "deflow_no_pick": deflow_method("deflow_no_pick", floor="white", pick=False, ablation=True),
    "deflow_scaled_floor": deflow_method("deflow_scaled_floor", floor="scaled", ablation=True),
    "deflow_keep_colour": deflow_method("deflow_keep_colour", floor="white", keep_colour=4.0, ablation=True),
    "deflow_latent_scale": deflow_method("deflow_latent_scale", "latent_scale", {"network_g.latent_scale": True},
                                         floor="white", pick=False, ablation=True),
}
