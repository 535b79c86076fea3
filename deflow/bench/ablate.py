"""The h ablation: the camera benchmark's DeFlow arm once per domain-invariant function h (deflow/flow/h/).

    python scripts/ablate.py --out bench                       # every registered h, the benchmark's full budget
    python scripts/ablate.py --out bench --h bicubic_noise chroma_blur_noise --quick
        [--seeds 0 ...] [--deflow-seeds N] [--deflow-candidates C] [--deflow-iters N] [--sr-iters N]
        [--dae-iters N] [--deflow-set KEY=VALUE ...] [--jobs 2] [--threads 1] [--real PHOTO ...] [--test PHOTO ...]
        [--clean PHOTO ...] [--camera KEY=VALUE ...]

Every arm is the benchmark's `deflow` method (benchmark.py, methods.py): DeFlow trained with
deflow/bench/confs/deflow-bench.yml on the bicubic LR of the clean photos against the real domain, the bicubic LR
translated at heat 1.0 with the noise floor raised (translate --noise-floor --real), one SR model trained per seed
on the pairs and scored on the camera's test LR. Only `network_g.h` differs between arms, and with it the
conditioning folders of the DeFlow training (its `<s>x/` images are h's downsampling, create_dataset --h).
The same seeds and budget for every h: the benchmark's full one by default (DeFlow 1500 iterations, SR 1300), one
DeFlow model and SR seed 0 (--deflow-seeds, --seeds). --deflow-candidates picks each model of C as the benchmark's
option does (methods.pick_model). --deflow-set KEY=VALUE changes the DeFlow config of every arm (e.g.
network_g.domain_filter=true); the arms and their trainings are then named after the keys (h_<name>_domain_filter),
and the config's own h trains its own models too.

--out is a benchmark folder: its runs/ layout is the benchmark's, so bicubic, oracle, the photos, the camera's
images and, for the config's own h (the packaged config's chroma_blur_noise; bicubic_noise, noise_std 0.03 where
network_g.h is unset), the benchmark's DeFlow models are reused where a benchmark made them with the same settings.
`dae` first trains its denoising autoencoder (confs/cpu/dae-h.yml at scale 1 through the trainer, --dae-iters) on
the bicubic LR of the clean photos and the real LR, each with white noise as its LQ (degradations preset
white_noise), into runs/dae/, reused once its final checkpoint exists.

Writes OUT/h_ablation.json, OUT/h_ablation.md and OUT/figures/h_crops.png: per h, SR PSNR / SSIM, gap closed
against the same run's bicubic and oracle, AKLD and NLF distance of the translated LR (the benchmark's columns),
the DeFlow model's held-out NLL per domain and h's h_gap (deflow/bench/h_scores.py), the DeFlow training time.
"""
import argparse
import inspect
import json
import os
import shutil
import sys
import time
from dataclasses import replace
from datetime import datetime
from functools import partial
from pathlib import Path

import torch

from deflow.bench import benchmark
from deflow.bench.bench_report import fmt, summarize
from deflow.bench.benchmark import CAMERA_SEED, Bench, Progress, check_folder, check_settings, config_hashes, shown
from deflow.bench.h_scores import h_gap, heldout_nll, tile_count, training_seconds
from deflow.bench.methods import METHODS, deflow_checkpoint, deflow_method, deflow_models, picked_model, train_deflow
from deflow.bench.run import machine, overrides
from deflow.config import load_options, parse_assignment
from deflow.errors import UserError, user_errors_exit_2
from deflow.flow.h import build_h
from deflow.imageio import list_images, read_image
from deflow.models.loading import load_for_inference
from deflow.registry import H_FUNCTIONS
from deflow.tools.sample_photos import source_name
from degradations.cli import degrade_folder
from degradations.pipeline import Pipeline

HEAT, FLOOR = "1.0", "white"  # translated as the benchmark's `deflow` method: heat 1.0, translate --noise-floor white
CONFIG_H = {"type": "bicubic_noise", "noise_std": 0.03}  # DeFlowNet's h when network_g.h and lr_noise_std are unset
DAE_CONFIG = Path(__file__).resolve().parents[2] / "confs/cpu/dae-h.yml"
REFERENCES = ("bicubic", "oracle")
FIGURE = "figures/h_crops.png"


def h_names() -> list[str]:
    """The registered h's, the config's own first."""
    return sorted(H_FUNCTIONS.names(), key=lambda name: (name != CONFIG_H["type"], name))


def h_section(name: str, dae_weights: Path | None) -> dict:
    """The network_g.h section of h `name` with every key at its default; the dae's weights are `dae_weights`."""
    section = {"type": name}
    for key, parameter in inspect.signature(H_FUNCTIONS.get(name)).parameters.items():
        if key in ("self", "factor"):
            continue
        if name == "dae" and key == "weights":
            section[key] = str(dae_weights)
        elif parameter.default is inspect.Parameter.empty:
            raise UserError(f"--h {name}: its key {key} has no default, so the ablation cannot set it; "
                            "drop it from --h")
        else:
            section[key] = parameter.default
    return section


def what(name: str) -> str:
    """The first paragraph of h `name`'s docstring: what it removes and what it keeps."""
    return " ".join(inspect.getdoc(H_FUNCTIONS.get(name)).split("\n\n")[0].split())


def dae_checkpoint(runs: Path, iters: int) -> Path:
    return runs / "dae" / f"it{iters}" / "checkpoints" / f"iter_{iters:08d}.pth"


def train_dae(bench, iters: int) -> None:
    """The dae h's autoencoder: confs/cpu/dae-h.yml on both domains' LR images, their LQ with white noise."""
    checkpoint = dae_checkpoint(bench.out, iters)
    if checkpoint.exists():
        bench.progress("dae training", f"reusing {checkpoint}")
        return
    gt, lq = bench.out / "dae/data/gt", bench.out / "dae/data/lq"
    gt.mkdir(parents=True, exist_ok=True)
    for path in [*list_images(bench.bicubic_lr), *list_images(bench.real_lr)]:
        shutil.copy2(path, gt / path.name)
    degrade_folder(Pipeline.from_name_or_file("white_noise", 1), gt, lq, 0)
    options = {"datasets.train.dataroot_gt": gt, "datasets.train.dataroot_lq": lq, "train.total_iter": iters,
               "train.scheduler.milestones": [iters * 2 // 3], "train.warmup_iter": min(20, iters // 10),
               "logger.save_checkpoint_freq": max(200, iters // 3), "logger.use_tb_logger": False,
               "path.experiments_root": checkpoint.parents[1]}
    bench.run_logged(f"dae training ({iters} it)", [bench.py, "-m", "deflow.train", "-opt", DAE_CONFIG,
                                                    "--resume", "auto", *overrides(options)], f"dae_it{iters}")


def train_arm(bench, section: dict, deflow_train, dae_iters: int) -> list:
    """An h's DeFlow training: the DAE first for dae, then the benchmark's training's jobs (one per model; they make
    h's conditioning folders)."""
    if section["type"] == "dae":
        train_dae(bench, dae_iters)
    return deflow_train(bench)


def arms(names: list[str], runs: Path, deflow_config: Path, dae_iters: int, sets: dict | None = None) -> dict:
    """{"h_<name>": (Method, network_g.h section, training name)}: the benchmark's deflow method with network_g.h
    set. The config's own h keeps the benchmark's training (training name "", its models deflow/it<N>*); every
    other h trains its own (h_<name>). `sets` (--deflow-set) change the config of every arm, its own h's included,
    and name them: h_<name>_<last part of each key>[<value>]."""
    sets = sets or {}
    net = load_options(deflow_config, [f"{key}={value}" for key, value in sets.items()])["network_g"]
    noise = {} if net.get("lr_noise_std") is None else {"noise_std": net["lr_noise_std"]}
    own = net.get("h") or {**CONFIG_H, **noise}  # its h as DeFlowNet builds it
    own = {**h_section(own["type"], dae_checkpoint(runs, dae_iters)), **own}
    suffix = "".join(f"_{key.rsplit('.', 1)[-1]}" + ("" if value is True else f"{value}")
                     for key, value in sets.items())
    table = {}
    for name in names:
        arm = f"h_{name}{suffix}"
        section = h_section(name, dae_checkpoint(runs, dae_iters))
        if section == own and not sets:
            table[arm] = (deflow_method(arm, heat=HEAT, floor=FLOOR), section, "")
            continue
        # the training built here, not deflow_method's: that one is shared by name across calls (methods.TRAININGS)
        deflow_train = partial(train_deflow, training=arm, sets={**sets, "network_g.h": section})
        train = partial(train_arm, section=section, deflow_train=deflow_train, dae_iters=dae_iters)
        method = deflow_method(arm, arm, heat=HEAT, floor=FLOOR)
        table[arm] = (replace(method, train=train), section, arm)
    return table


# ---------------------------------------------------------------- scores and report

def h_crops(bench, methods: list[str], seed: int, path: Path) -> None:
    """The first clean photo's translations by each h's DeFlow beside its bicubic and camera LR: one crop (the
    flattest, where noise shows) at the same place in all, enlarged 3x."""
    from matplotlib.figure import Figure

    from metrics.realism.page import ENLARGE, flat_crop

    name = f"{source_name(bench.split['clean'][0])}.png"
    panels = {"bicubic LR": bench.bicubic_lr / name, "camera LR (real)": bench.reference_lr / name,
              **{f"DeFlow, h = {m.removeprefix('h_')}": bench.lr(m, seed) / name for m in methods}}
    images = [read_image(p) for p in panels.values()]
    crops = flat_crop(torch.cat(images)).split(3)  # the images stacked along channels: one place for all
    columns = min(6, len(crops))
    rows = -(-len(crops) // columns)
    fig = Figure(figsize=(2.2 * columns, 2.4 * rows))
    axes = fig.subplots(rows, columns, squeeze=False).flatten()
    for ax, label, crop in zip(axes, panels, crops):
        ax.imshow(crop.repeat_interleave(ENLARGE, 1).repeat_interleave(ENLARGE, 2).permute(1, 2, 0).clamp(0, 1))
        ax.set_title(label, fontsize=9)
    for ax in axes:
        ax.axis("off")
    fig.suptitle(f"{name}, seed {seed}: the same crop of each", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)


def score_arms(bench, table: dict, scale: int, heldout: dict[str, list]) -> dict[str, dict]:
    """Per arm: held-out NLL per domain (mean over the DeFlow models its SR seeds used: the picked ones with
    --deflow-candidates), h_gap, DeFlow training seconds (summed over every model trained, candidates included)."""
    budget, scores = bench.budget, {}
    for arm, (method, section, training) in table.items():
        models = [picked_model(bench, method.folder(budget), group, budget.deflow_candidates)
                  for group in range(budget.deflow_seeds)]
        checkpoints = [deflow_checkpoint(bench, model, training) for model in models]
        nll = {"clean": [], "degraded": []}
        for checkpoint in checkpoints:
            model = load_for_inference(checkpoint, expected_type="DeFlowModel")
            for label, domain in enumerate(nll):
                nll[domain].append(heldout_nll(model, heldout[domain], label))
        seconds = [training_seconds(deflow_checkpoint(bench, model, training).parents[1])
                   for model in range(deflow_models(budget))]
        scores[arm] = {"nll_clean": sum(nll["clean"]) / len(checkpoints),
                       "nll_degraded": sum(nll["degraded"]) / len(checkpoints),
                       "h_gap": h_gap(build_h(section, scale), heldout["clean"], heldout["degraded"]),
                       "deflow_train_seconds": None if None in seconds else sum(seconds)}
    return scores


def markdown(report: dict) -> str:
    run, s, ref = report["run"], report["settings"], report["reference"]
    changed = "".join(f" with {key}={value}" for key, value in s["deflow_sets"].items())
    picked = f", each picked of {s['deflow_candidates']}" if s["deflow_candidates"] > 1 else ""
    lines = ["# h ablation: the camera benchmark's DeFlow arm per domain-invariant function h", "",
             f"- date: {run['date']}", f"- machine: {run['machine']}", f"- command: `{run['command']}`",
             f"- wall time: {run['wall_seconds'] / 60:.1f} min",
             f"- DeFlow: {s['deflow_config']}{changed}, {s['deflow_iters']} iterations, {s['deflow_seeds']} model(s)"
             f"{picked}, "
             f"translated at heat {s['heat']} with the noise floor ({s['noise_floor']}); SR: {s['sr_config']}, "
             f"{s['sr_iters']} iterations, seeds {s['seeds']}",
             f"- reference: bicubic {fmt(ref['bicubic']['psnr'], 3)} dB / {fmt(ref['bicubic']['ssim'], 4)}, oracle "
             f"{fmt(ref['oracle']['psnr'], 3)} dB / {fmt(ref['oracle']['ssim'], 4)}", "",
             "| h | PSNR (dB) | SSIM | gap closed, PSNR | gap closed, SSIM | AKLD vs camera | NLF distance (8-bit) "
             "| NLL clean (bits/dim) | NLL degraded (bits/dim) | h_gap (8-bit) | DeFlow training (s) |",
             "|" + " --- |" * 11]
    for r in report["rows"]:
        seconds = "n/a" if r["deflow_train_seconds"] is None else f"{r['deflow_train_seconds']:.0f}"
        lines.append(f"| {r['h']} | {fmt(r['psnr'], 3)} | {fmt(r['ssim'], 4)} | {fmt(r['gap_closed_psnr'], 0, True)} "
                     f"| {fmt(r['gap_closed_ssim'], 0, True)} | {fmt(r['akld_vs_camera'], 3)} | "
                     f"{fmt(r['nlf_distance_8bit'], 2)} | {r['nll_clean']:.3f} | {r['nll_degraded']:.3f} | "
                     f"{r['h_gap']:.2f} | {seconds} |")
    lines += ["", f"![translated crops per h]({report['figure']})", "", "## The h's", ""]
    lines += [f"- **{r['h']}** `{json.dumps(r['section'])}`: {r['what']}" for r in report["rows"]]
    lines += ["", "## Columns", "",
              f"- NLL: {s['nll']['definition']}",
              f"- h_gap: {s['h_gap']}",
              "- gap closed = (h - bicubic) / (oracle - bicubic), paired by seed; AKLD and NLF distance as in the "
              "benchmark (results.md): of the translated LR against the camera's LR of the same photos and against "
              "the real domain's noise-level function.",
              "- DeFlow training: seconds from the first to the last line of its train.log (summed over its models; "
              "n/a where no finished log is there)."]
    return "\n".join(lines) + "\n"


def report(bench, table: dict, results: list[dict], scores: dict, settings: dict, run: dict) -> dict:
    summary = summarize(results, (*REFERENCES, *table))
    rows = [{"h": arm.removeprefix("h_"), "section": section, "what": what(section["type"]),
             **{key: summary[arm][key] for key in ("psnr", "ssim", "gap_closed_psnr", "gap_closed_ssim",
                                                   "akld_vs_camera", "nlf_distance_8bit")},
             "nll_clean": scores[arm]["nll_clean"], "nll_degraded": scores[arm]["nll_degraded"],
             "nll_units": "bits per dimension", "h_gap": scores[arm]["h_gap"],
             "h_gap_units": "8-bit, excess RMS of the real domain's perturbed conditioning (h_scores.py)",
             "deflow_train_seconds": scores[arm]["deflow_train_seconds"]}
            for arm, (_, section, _) in table.items()]
    return {"run": run, "settings": settings,
            "reference": {m: {k: summary[m][k] for k in ("psnr", "ssim")} for m in REFERENCES},
            "rows": rows, "figure": FIGURE}


# ---------------------------------------------------------------- the run

def ablate(bench_args, names: list[str], budget, split: dict, camera, dae_iters: int, command: str,
           sets: dict | None = None) -> dict:
    """Run the ablation of the h's `names` into bench_args.out (a benchmark folder); returns the report."""
    out = bench_args.out
    table = arms(names, out / "runs", bench_args.deflow_config, dae_iters, sets)  # a bad --deflow-set stops here
    check_folder(out / "runs", {"split": split, "camera": camera.params.as_dict(), "camera_seed": CAMERA_SEED,
                                "config_sha1": config_hashes(bench_args)})
    torch.set_num_threads(bench_args.threads)
    progress = Progress()
    scale = load_options(bench_args.deflow_config)["scale"]
    bench_args.methods = [*REFERENCES, *table]
    bench = Bench(bench_args, budget, camera, split, progress, {**{m: METHODS[m] for m in REFERENCES},
                                                                 **{arm: entry[0] for arm, entry in table.items()}})
    progress("start", f"h ablation into {out}: {', '.join(names)}; seeds {list(budget.seeds)}, SR {budget.sr_iters} "
             f"it, DeFlow {budget.deflow_iters} it x {budget.deflow_seeds} model(s)"
             + (f" (each picked of {budget.deflow_candidates})" if budget.deflow_candidates > 1 else "")
             + "".join(f", {key}={value}" for key, value in (sets or {}).items()))
    bench.prepare()
    clean_test = bench.degrade(Pipeline.from_name_or_file("bicubic", 2), "test", bench.out / "lr/bicubic_test", 0,
                               "bicubic LR of the test photos (held-out clean domain)")
    heldout = {"clean": [read_image(p) for p in list_images(clean_test)],
               "degraded": [read_image(p) for p in list_images(bench.test_lr)]}
    results = bench.run_all(budget.seeds, lambda results: None)
    scores = score_arms(bench, table, scale, heldout)
    h_crops(bench, list(table), budget.seeds[0], out / FIGURE)
    settings = {"split": split, "camera": camera.params.as_dict(), "camera_seed": CAMERA_SEED,
                "deflow_config": shown(bench_args.deflow_config), "deflow_iters": budget.deflow_iters,
                "deflow_seeds": budget.deflow_seeds, "deflow_candidates": budget.deflow_candidates,
                "deflow_sets": sets or {}, "heat": HEAT, "noise_floor": FLOOR,
                "sr_config": shown(bench_args.sr_config), "sr_iters": budget.sr_iters, "seeds": list(budget.seeds),
                "c2st": {"patches_per_class": budget.c2st_patches, "steps": budget.c2st_steps},
                "dae": {"config": shown(DAE_CONFIG), "iters": dae_iters, "lq": "degradations preset white_noise"},
                "nll": {"images": "the test photos: their bicubic LR (clean) and camera LR (degraded)",
                        "crop": 48, "tiles": {d: tile_count(v) for d, v in heldout.items()},
                        "definition": "held-out negative log-likelihood in bits per dimension of non-overlapping "
                                      "48 px tiles of the test photos' bicubic LR (clean) and camera LR (degraded), "
                                      "mean over the DeFlow models"},
                "h_gap": "RMS(perturb(h(camera LR)) - h(bicubic LR)) - RMS(perturb(h(bicubic LR)) - h(bicubic LR)) "
                         "at the conditioning resolution, 8-bit units, the same noise draw for both, over the test "
                         "photos: how much more noise the real domain's conditioning carries than the clean one's",
                **bench.info}
    load = os.getloadavg()[0]
    run = {"command": command, "date": datetime.now().astimezone().isoformat(timespec="seconds"),
           "wall_seconds": time.time() - progress.start,
           "machine": machine(load, "at the end",
                              f"{bench.device}; {bench_args.jobs} jobs x {bench_args.threads} thread(s)")}
    result = report(bench, table, results, scores, settings, run)
    (out / "h_ablation.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "h_ablation.md").write_text(markdown(result))
    progress("done", f"{out / 'h_ablation.md'}, {out / 'h_ablation.json'}, {out / FIGURE}")
    return result


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench"), help="the benchmark folder (default bench)")
    parser.add_argument("--h", nargs="+", metavar="NAME", help="the h's (default: every registered one)")
    parser.add_argument("--quick", action="store_true", help="the benchmark's quick budget (300 / 300 iterations)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0], help="SR seeds (default 0)")
    parser.add_argument("--deflow-seeds", type=int, default=1, help="DeFlow models per h (default 1)")
    parser.add_argument("--deflow-iters", type=int, help="DeFlow iterations (default 1500, 300 with --quick)")
    parser.add_argument("--sr-iters", type=int, help="SR iterations (default 1300, 300 with --quick)")
    parser.add_argument("--deflow-candidates", type=int, default=1,
                        help="DeFlow models trained per model, the one picked as the benchmark's option does")
    parser.add_argument("--dae-iters", type=int, help="the dae h's autoencoder iterations (default: its config's)")
    parser.add_argument("--deflow-set", action="append", default=[], metavar="KEY=VALUE",
                        help="a DeFlow config change for every arm, e.g. network_g.domain_filter=true (repeatable)")
    parser.add_argument("--jobs", type=int, help="steps run side by side (default: the benchmark's)")
    parser.add_argument("--threads", type=int, help="torch threads per step (default: cores / jobs)")
    for role in ("real", "test", "clean"):
        parser.add_argument(f"--{role}", nargs="+", metavar="PHOTO", help="the benchmark's photo set (default its own)")
    parser.add_argument("--camera", nargs="+", metavar="KEY=VALUE", help="the benchmark's camera parameters")
    return parser.parse_args(argv)


def benchmark_args(args) -> argparse.Namespace:
    """The benchmark's options for the ablation's: the same folder, budget, seeds, photos and camera."""
    argv = ["--out", str(args.out), "--seeds", *map(str, args.seeds), "--deflow-seeds", str(args.deflow_seeds),
            "--deflow-candidates", str(args.deflow_candidates)]
    argv += ["--quick"] if args.quick else []
    for key in ("deflow_iters", "sr_iters", "jobs", "threads", "real", "test", "clean", "camera"):
        value = getattr(args, key)
        if value is not None:
            argv += [f"--{key.replace('_', '-')}", *map(str, value if isinstance(value, list) else [value])]
    return benchmark.parse_args(argv)


@user_errors_exit_2
def main(argv=None) -> dict:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    known = h_names()
    names = list(dict.fromkeys(args.h or known))
    unknown = [name for name in names if name not in known]
    if unknown:
        raise UserError(f"--h {unknown[0]}: not a registered h; choose from {', '.join(known)}")
    dae_iters = args.dae_iters
    if dae_iters is None:
        dae_iters = load_options(DAE_CONFIG)["train"]["total_iter"] if "dae" in names else 0
    elif dae_iters < 1:
        raise UserError("--dae-iters must be >= 1")
    sets = dict(parse_assignment(a, "--deflow-set", "network_g.domain_filter=true") for a in args.deflow_set)
    bench_args = benchmark_args(args)
    split, camera, budget = check_settings(bench_args)
    return ablate(bench_args, names, budget, split, camera, dae_iters, " ".join(["python scripts/ablate.py", *argv]),
                  sets)
