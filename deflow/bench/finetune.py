"""The task's fine-tuning protocol on a second camera: do the DeFlow and SR models learned on camera A adapt to camera
B with little data and training better than models trained on camera B from scratch, or than no adaptation at all?

    python scripts/finetune_protocol.py --bench DIR --out DIR [--quick] [--deflow-iters N] [--sr-iters M]
        [--seeds S ...] [--jobs 2] [--threads 1]

Task 1 is the camera benchmark in --bench (python scripts/benchmark.py --out DIR): camera A is its camera, its
DeFlow model of group 0 (the one picked where the benchmark picks) and its `deflow` method's SR model of seed s are
the models to adapt. Task 2 is camera B (CAMERA_B: a wider PSF, twice the shot-noise variance and half the
read-noise std, the neutral sRGB ISP instead of the phone's colour matrix, JPEG 75 instead of 90), seen through the
task's 120 frames of 256x256: each a 512x512 window of a `real` photo at a seeded position, flipped at random,
captured by camera B with a noise draw of its own (the camera is spatially invariant, so a frame is a crop of camera
B's LR image of the photo up to the window's borders and the JPEG grid). skimage ships 9 photos and the benchmark's
split holds all of them, so task 2 keeps that split: camera B's frames come from the benchmark's `real` photos
(those of at least 512x512), DeFlow's clean domain and the SR pairs from the same `clean` photos, and the scored
pairs are camera B's LR images of the same `test` photos, held out from every training of both tasks.

The arms (ARMS), with the same budgets: DeFlow N iterations, SR M iterations, SR seeds --seeds (default 0). Each is
scored on camera B's test pairs by deflow.tools.test_sr as the benchmark scores (PSNR / SSIM under rwsr_rgb, LPIPS
where its weights are on the machine, else null). Its seconds are those of its trainings, translations and scorings
in this protocol, as measured by the run that did each step (task 1's trainings are not counted).

--out gets finetune.json and finetune.md, its runs/ folder every log and intermediate. A re-run reuses what is
finished, as the benchmark does: complete image folders, trainings whose final checkpoint exists (an unfinished one
resumes), scores newer than their model.
"""
import argparse
import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

import torch

from deflow.bench.bench_report import fmt, spread
from deflow.bench.benchmark import CAMERA_SEED, CONFIGS, MULTIPLE, Bench, Budget, Progress, check_folder, config_hashes
from deflow.bench.methods import (METHODS, Method, deflow_checkpoint, deflow_method, pick_record, picked_model,
                                  train_deflow)
from deflow.bench.run import machine, overrides
from deflow.errors import UserError, user_errors_exit_2
from deflow.imageio import list_images, read_image, write_image
from deflow.tools.sample_photos import source_name, write_photo_set
from degradations.camera import Camera, CameraParams
from degradations.pipeline import Pipeline

CAMERA_B = CameraParams(blur_sigma=1.0, photons=20.0, read_std=0.01, isp="srgb", jpeg_quality=75)
FRAMES, FRAME = 120, 256      # the task's second data set: 120 frames of 256x256
FRAME_SEED = CAMERA_SEED + 2  # the frames' positions and flips; frame i's noise draw: FRAME_SEED + 1 + i
BUDGETS = {"quick": (100, 100), "full": (500, 600)}  # (DeFlow, SR) iterations
RESULTS = ("results.json", "results-quick.json")  # the benchmark's reports, full mode first: camera A's budget
FINE_TUNE = deflow_method("fine_tune", "finetune", heat="1.0", floor="white")  # translations as the benchmark's
SCRATCH = deflow_method("scratch", heat="1.0", floor="white")                # deflow method makes them


# ---------------------------------------------------------------- camera B's frames

def capture_frames(photos: dict[str, torch.Tensor], camera: Camera, count: int = FRAMES, size: int = FRAME,
                   seed: int = FRAME_SEED) -> tuple[list[torch.Tensor], list[dict]]:
    """`count` LR frames (3, size, size) of `camera`: frame i is a (size * scale)^2 window of photo i mod n of the
    photos ((3, H, W) in [0, 1]) at least that large, sorted by name, at a position and flips drawn from `seed`,
    captured with generator seed `seed` + 1 + i. Returns the frames and, per frame, {photo, top, left, hflip,
    vflip, noise_seed}; the first k frames do not depend on `count`."""
    side = size * camera.scale
    names = sorted(name for name, img in photos.items() if min(img.shape[-2:]) >= side)
    if not names:
        raise UserError(f"no real photo is {side}x{side} or larger: camera B's {size}x{size} frames need one")
    positions = torch.Generator().manual_seed(seed)
    frames, records = [], []
    for i in range(count):
        name = names[i % len(names)]
        img = photos[name]
        top, left = (int(torch.randint(0, n - side + 1, (), generator=positions)) for n in img.shape[-2:])
        hflip, vflip = (bool(flip) for flip in torch.rand(2, generator=positions) < 0.5)
        window = img[:, top:top + side, left:left + side].flip([d for d, flip in ((2, hflip), (1, vflip)) if flip])
        frames.append(camera(window[None], torch.Generator().manual_seed(seed + 1 + i))[0])
        records.append({"photo": name, "top": top, "left": left, "hflip": hflip, "vflip": vflip,
                        "noise_seed": seed + 1 + i})
    return frames, records


# ---------------------------------------------------------------- camera A: the benchmark's folder

def camera_a(bench_dir: Path, seeds: tuple[int, ...]) -> dict:
    """The benchmark in `bench_dir`: {split, camera, deflow: its DeFlow model of group 0, sr: {seed: its deflow
    method's SR model}}; a missing file is a UserError naming it and the command that makes it."""
    settings, reports = bench_dir / "runs/settings.json", [bench_dir / name for name in RESULTS]
    report = next((path for path in reports if path.exists()), reports[0])
    make = f"python scripts/benchmark.py --out {bench_dir}" + (" --quick" if report.name == RESULTS[1] else "")
    for path in (settings, report):
        if not path.exists():
            raise UserError(f"{path}: missing; camera A's models come from the camera benchmark: {make}")
    world, s = json.loads(settings.read_text()), json.loads(report.read_text())["settings"]
    if world["config_sha1"] != config_hashes(bench_args(bench_dir)):
        raise UserError(f"{settings}: camera A was trained with other configs than the packaged ones, which the "
                        f"protocol trains; make a benchmark with those: {make}")
    budget = Budget(s["deflow_iters"], s["sr_iters"], seeds, 0, 0, s["deflow_seeds"], s["deflow_heat"],
                    s.get("deflow_candidates", 1))
    bench = Bench(bench_args(bench_dir), budget, Camera(CameraParams.from_dict(world["camera"])), world["split"],
                  Progress())
    folder = METHODS["deflow"].folder(budget)
    if budget.deflow_candidates > 1 and not (record := pick_record(bench, folder, 0)).exists():
        raise UserError(f"{record}: missing (camera A's DeFlow pick); make it: {make}")
    models = {"deflow": deflow_checkpoint(bench, picked_model(bench, folder, 0, budget.deflow_candidates)),
              "sr": {seed: bench.run_dir("sr", "deflow", seed) / "checkpoints" / f"iter_{budget.sr_iters:08d}.pth"
                     for seed in seeds}}
    for path in (models["deflow"], *models["sr"].values()):
        if not path.exists():
            raise UserError(f"{path}: missing (camera A's DeFlow or SR model); make it: {make}"
                            + (f" --seeds {' '.join(map(str, seeds))}" if set(seeds) - {0} else ""))
    return {"split": world["split"], "camera": bench.camera, **models}


def bench_args(out: Path, jobs: int = 1, threads: int = 1) -> SimpleNamespace:
    """What a `Bench` reads of the benchmark's arguments: the packaged configs, no methods of its own."""
    return SimpleNamespace(out=out, methods=[], jobs=jobs, threads=threads, sr_config=CONFIGS["sr"],
                           deflow_config=CONFIGS["deflow"])


# ---------------------------------------------------------------- the arms

@dataclass(frozen=True)
class Arm:
    """sr_model(protocol, arm, seed) -> the SR checkpoint to score, made first where it is missing; translation: the
    DeFlow translation whose folder names the arm's runs (with its iterations), else the arm's name does; run: the
    folder of one seed's SR training and scores."""
    what: str
    sr_model: Callable[..., Path]
    translation: Method | None = None
    run: str = "seed{seed}_it{sr_iters}"


def no_adaptation(p, arm: str, seed: int) -> Path:
    return p.a["sr"][seed]


def fine_tune(p, arm: str, seed: int) -> Path:
    p.deflow(arm, "finetune", {"path.pretrain_network_g": p.a["deflow"]})
    return p.sr(arm, seed, p.translate(arm, seed), {"path.pretrain_network_g": p.a["sr"][seed],
                                                    "path.param_key_g": "params_ema"})


def scratch(p, arm: str, seed: int) -> Path:
    p.deflow(arm, "", None)
    return p.sr(arm, seed, p.translate(arm, seed))


def oracle_b(p, arm: str, seed: int) -> Path:
    folder = p.bench.out / "lr" / arm / f"seed{seed}"
    p.step(arm, folder, p.bench.complete(folder), lambda: METHODS["oracle"].make_lr(p.bench, seed, folder))
    return p.sr(arm, seed, folder)


def bicubic(p, arm: str, seed: int) -> Path:
    return p.sr(arm, seed, p.bench.bicubic_lr)


ARMS = {
    "no_adaptation": Arm("Camera A's DeFlow-trained SR model applied to camera B's test LR as it is.", no_adaptation,
                         run="seed{seed}"),
    "fine_tune": Arm("Camera A's DeFlow trained N more iterations on the clean vs camera-B frames, its translation of "
                     "the clean bicubic LR, and camera A's SR model trained M more iterations on those pairs.",
                     fine_tune, FINE_TUNE),
    "scratch": Arm("DeFlow trained N iterations from scratch on the clean vs camera-B frames, its translation, and "
                   "an SR model trained M iterations from scratch on those pairs.", scratch, SCRATCH),
    "oracle_b": Arm("Reference: SR trained M iterations from scratch on camera B's true LR of the clean photos.",
                    oracle_b),
    "bicubic": Arm("Reference: SR trained M iterations from scratch on bicubic LR of the clean photos.", bicubic),
}
RUN_ORDER = ("fine_tune", "oracle_b", "bicubic", "scratch", "no_adaptation")  # with 2 jobs the second DeFlow
# training starts when the first is done (they build one data folder), the SR-only arms run beside the first


class Protocol:
    """Camera B's folder: a benchmark `Bench` of camera B whose real domain is the frames; camera A's models; the
    seconds of every step that ran, kept in runs/seconds.json."""

    def __init__(self, out: Path, budget: Budget, a: dict, jobs: int, threads: int, progress: Progress):
        self.a = a
        self.bench = Bench(bench_args(out, jobs, threads), budget, Camera(CAMERA_B, "camera_b"), a["split"],
                           progress)
        self.bench.real_lr = self.bench.out / "lr/frames_b"
        self.times = self.bench.out / "seconds.json"
        self.seconds = json.loads(self.times.read_text()) if self.times.exists() else {}
        self.steps: dict[str, set[str]] = {arm: set() for arm in ARMS}
        self.lock, self.deflow_lock = threading.Lock(), threading.Lock()

    def prepare(self) -> list[dict]:
        """The photos, camera B's frames (their records) and test LR, the bicubic LR of the clean photos."""
        bench = self.bench
        for role, sources in bench.split.items():
            write_photo_set(bench.photos(role), sources, MULTIPLE)
        records_file = bench.real_lr.with_suffix(".json")
        if records_file.exists() and all((bench.real_lr / f"frame_{i:03d}.png").exists() for i in range(FRAMES)):
            records = json.loads(records_file.read_text())
        else:
            started = time.time()
            photos = {path.stem: read_image(path) for path in list_images(bench.photos("real"))}
            frames, records = capture_frames(photos, bench.camera, FRAMES)
            for i, frame in enumerate(frames):
                write_image(bench.real_lr / f"frame_{i:03d}.png", frame)
            records_file.write_text(json.dumps(records, indent=1))
            bench.progress("camera B -> frames", f"{FRAMES} frames of {FRAME}x{FRAME} in {bench.real_lr}", started)
        bench.degrade(bench.camera, "test", bench.test_lr, CAMERA_SEED, "camera B -> test LR")
        bench.degrade(Pipeline.from_name_or_file("bicubic", 2), "clean", bench.bicubic_lr, 0, "bicubic LR")
        return records

    # ------------------------------------------------------------ steps, timed
    def step(self, arm: str, output: Path, done: bool, work: Callable) -> None:
        """A step of `arm` that makes `output`: `work()` unless `done`, its seconds recorded under the output."""
        key = str(output.relative_to(self.bench.out))
        self.steps[arm].add(key)
        if done:
            return
        started = time.time()
        work()
        with self.lock:
            self.seconds[key] = time.time() - started
            self.times.write_text(json.dumps(self.seconds, indent=1) + "\n")

    def arm_seconds(self, arm: str) -> float:
        return sum(self.seconds.get(key, 0.0) for key in self.steps[arm])

    def key(self, arm: str) -> str:
        translation = ARMS[arm].translation
        return translation.folder(self.bench.budget) if translation else arm

    def run_dir(self, kind: str, arm: str, seed: int) -> Path:
        return self.bench.out / kind / self.key(arm) / ARMS[arm].run.format(seed=seed,
                                                                             sr_iters=self.bench.budget.sr_iters)

    def deflow(self, arm: str, training: str, sets: dict | None) -> None:
        checkpoint = deflow_checkpoint(self.bench, 0, training)
        with self.deflow_lock:  # methods.train_deflow builds the DeFlow data folders before it trains
            self.step(arm, checkpoint, checkpoint.exists(),
                      lambda: [job() for job in train_deflow(self.bench, training, sets)])

    def translate(self, arm: str, seed: int) -> Path:
        folder = self.bench.out / "lr" / self.key(arm) / f"seed{seed}"
        self.step(arm, folder, self.bench.complete(folder),
                  lambda: ARMS[arm].translation.make_lr(self.bench, seed, folder))
        return folder

    def sr(self, arm: str, seed: int, lr_dir: Path, sets: dict | None = None) -> Path:
        """The SR model of `arm` trained on (clean photos, `lr_dir`) as the benchmark trains its methods' models."""
        bench, iters = self.bench, self.bench.budget.sr_iters
        root = self.run_dir("sr", arm, seed)
        checkpoint = root / "checkpoints" / f"iter_{iters:08d}.pth"
        options = {"name": f"finetune_{arm}_seed{seed}", "manual_seed": seed, "train.total_iter": iters,
                   "logger.save_checkpoint_freq": max(100, iters // 3), "path.experiments_root": root,
                   **{f"datasets.{phase}.dataroot_{side}": folder for phase in ("train", "val")
                      for side, folder in (("gt", bench.photos("clean")), ("lq", lr_dir))},
                   "train.scheduler.milestones": [iters * 3 // 4], **(sets or {})}
        command = [bench.py, "-m", "deflow.train", "-opt", bench.configs["sr"], "--resume", "auto", *overrides(options)]
        self.step(arm, checkpoint, checkpoint.exists(), lambda: bench.run_logged(
            f"sr {arm} seed {seed} training ({iters} it)", command, f"sr_{root.parent.name}_{root.name}"))
        return checkpoint

    def score(self, arm: str, seed: int) -> dict:
        """`arm`'s SR model of `seed` on camera B's test pairs: test_sr's metrics.json."""
        checkpoint = ARMS[arm].sr_model(self, arm, seed)
        folder = self.run_dir("eval", arm, seed)
        metrics = folder / "metrics.json"
        done = metrics.exists() and metrics.stat().st_mtime >= checkpoint.stat().st_mtime
        self.step(arm, folder, done, lambda: self.bench.run_logged(f"{arm} seed {seed} scoring", [
            self.bench.py, "-m", "deflow.tools.test_sr", "--model_path", checkpoint, "--input", self.bench.test_lr,
            "--gt", self.bench.photos("test"), "--out", folder], f"eval_{folder.parent.name}_{folder.name}"))
        scores = json.loads(metrics.read_text())
        mean = scores["mean"]
        self.bench.progress(f"{arm} seed {seed}", f"PSNR {mean['psnr']:.3f}  SSIM {mean['ssim']:.4f}")
        return scores

    def run_all(self) -> dict[tuple[str, int], dict]:
        """Every (arm, seed), `jobs` at a time, in RUN_ORDER seed by seed: {(arm, seed): metrics}."""
        todo = [(arm, seed) for seed in self.bench.budget.seeds for arm in RUN_ORDER]
        with ThreadPoolExecutor(self.bench.jobs) as pool:
            futures = {pool.submit(self.score, *job): job for job in todo}
            try:
                return {futures[future]: future.result() for future in as_completed(futures)}
            except BaseException:
                pool.shutdown(cancel_futures=True)
                raise


# ---------------------------------------------------------------- the report

def arm_rows(protocol: Protocol, scores: dict[tuple[str, int], dict]) -> list[dict]:
    rows = []
    for arm, spec in ARMS.items():
        runs = [scores[(arm, seed)] for seed in protocol.bench.budget.seeds]
        rows.append({"arm": arm, "what": spec.what,
                     **{metric: spread([run["mean"][metric] for run in runs]) for metric in ("psnr", "ssim", "lpips")},
                     "seconds": protocol.arm_seconds(arm)})
    return rows


def markdown(report: dict, records: list[dict]) -> str:
    run, s, arms = report["run"], report["settings"], {row["arm"]: row for row in report["arms"]}
    lines = ["# Fine-tuning protocol x2: camera A -> camera B", "", f"- date: {run['date']}",
             f"- machine: {run['machine']}", f"- command: `{run['command']}`",
             f"- wall time: {run['wall_seconds'] / 60:.1f} min", "",
             "| arm | PSNR (dB) | SSIM | LPIPS | seconds | what |", "|" + " --- |" * 6]
    lines += [f"| {row['arm']} | {fmt(row['psnr'], 3)} | {fmt(row['ssim'], 4)} | {fmt(row['lpips'], 4)} | "
              f"{row['seconds']:.0f} | {row['what']} |" for row in report["arms"]]

    def gap(a: str, b: str) -> str:
        return " / ".join(f"{arms[a][m]['mean'] - arms[b][m]['mean']:+.{d}f} {unit}".strip()
                          for m, d, unit in (("psnr", 3, "dB"), ("ssim", 4, "SSIM")))

    lines += ["", "Differences of the means: "
              f"fine_tune - scratch {gap('fine_tune', 'scratch')}; fine_tune - no_adaptation "
              f"{gap('fine_tune', 'no_adaptation')}; oracle_b - bicubic {gap('oracle_b', 'bicubic')} (the room a "
              "degradation model has on camera B).", "", "## Settings", "",
              f"- camera A (--bench {s['bench']}): " + ", ".join(f"{k} {v}" for k, v in s["camera_a"].items()),
              "- camera B: " + ", ".join(f"{k} {v}" for k, v in s["camera_b"].items()),
              f"- task-2 data: {s['frames']} frames of {s['frame_size']}x{s['frame_size']}, camera B's captures of "
              f"{2 * s['frame_size']}x{2 * s['frame_size']} windows of "
              + ", ".join(f"{name} ({sum(r['photo'] == name for r in records)})" for name in s["photos"]["frames_from"])
              + f" at seeded positions and flips (runs/lr/frames_b.json)",
              "- photos: " + "; ".join(f"{role}: {', '.join(map(source_name, sources))}"
                                       for role, sources in s["photos"].items()),
              f"- budgets: DeFlow {s['deflow_iters']} iterations (deflow/bench/confs/deflow-bench.yml), SR "
              f"{s['sr_iters']} iterations (deflow/bench/confs/sr-bench-x2.yml), fresh optimizer and schedule in every "
              "arm; translations at heat 1 with the noise floor raised to the frames' noise-level function",
              "", "Seconds: the arm's own trainings, translations and scorings (task 1 not counted), measured by the "
              "run that did each step, with the other steps of the protocol running beside it."]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- command line

def parse_args(argv=None) -> argparse.Namespace:
    cores = os.cpu_count() or 1
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench", type=Path, required=True, help="a camera benchmark's --out folder (task 1)")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--quick", action="store_true", help=f"smoke run: DeFlow {BUDGETS['quick'][0]}, SR "
                        f"{BUDGETS['quick'][1]} iterations")
    parser.add_argument("--deflow-iters", type=int, help=f"DeFlow iterations of fine_tune and scratch (default "
                        f"{BUDGETS['full'][0]})")
    parser.add_argument("--sr-iters", type=int, help="SR iterations of every trained arm (default "
                        f"{BUDGETS['full'][1]})")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0], help="SR seeds (default 0)")
    parser.add_argument("--jobs", type=int, default=min(2, cores), help="steps run side by side")
    parser.add_argument("--threads", type=int, help="torch threads per step (default: cores / jobs)")
    args = parser.parse_args(argv)
    args.threads = args.threads or max(1, cores // max(1, args.jobs))
    deflow_iters, sr_iters = BUDGETS["quick" if args.quick else "full"]
    args.deflow_iters, args.sr_iters = args.deflow_iters or deflow_iters, args.sr_iters or sr_iters
    args.seeds = tuple(dict.fromkeys(args.seeds))
    for name in ("deflow_iters", "sr_iters", "jobs", "threads"):
        if getattr(args, name) < 1:
            raise UserError(f"--{name.replace('_', '-')} must be >= 1")
    if args.out.resolve() == args.bench.resolve():
        raise UserError(f"--out {args.out} is --bench: the protocol writes a runs/ folder of its own; choose another")
    return args


@user_errors_exit_2
def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    a = camera_a(args.bench, args.seeds)
    check_folder(args.out / "runs", {"bench": str(args.bench.resolve()), "split": a["split"],
                                     "camera_a": a["camera"].params.as_dict(), "camera_b": CAMERA_B.as_dict(),
                                     "frames": [FRAMES, FRAME, FRAME_SEED], "camera_seed": CAMERA_SEED})
    torch.set_num_threads(args.threads)
    progress = Progress()
    protocol = Protocol(args.out, Budget(args.deflow_iters, args.sr_iters, args.seeds, 0, 0), a, args.jobs,
                        args.threads, progress)
    progress("start", f"fine-tuning protocol into {args.out} from {args.bench}: DeFlow {args.deflow_iters} it, SR "
             f"{args.sr_iters} it, seeds {list(args.seeds)}")
    records = protocol.prepare()
    scores = protocol.run_all()
    load = os.getloadavg()[0]
    report = {"run": {"command": " ".join(["python scripts/finetune_protocol.py", *argv]),
                      "date": datetime.now().astimezone().isoformat(timespec="seconds"),
                      "wall_seconds": time.time() - progress.start,
                      "machine": machine(load, "at the end",
                                         f"{protocol.bench.device}; {args.jobs} jobs x {args.threads} thread(s)")},
              "settings": {"camera_a": a["camera"].params.as_dict(), "camera_b": CAMERA_B.as_dict(), "frames": FRAMES,
                           "frame_size": FRAME, "deflow_iters": args.deflow_iters, "sr_iters": args.sr_iters,
                           "bench": str(args.bench),
                           "photos": {**a["split"], "frames_from": sorted({r["photo"] for r in records})}},
              "arms": arm_rows(protocol, scores)}
    (args.out / "finetune.json").write_text(json.dumps(report, indent=2) + "\n")
    text = markdown(report, records)
    (args.out / "finetune.md").write_text(text)
    print("\n" + text, flush=True)
    progress("done", f"{args.out / 'finetune.md'}, {args.out / 'finetune.json'}")
