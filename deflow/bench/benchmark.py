"""The camera benchmark: does a learned degradation train a better x2 SR model than hand-made ones?

    python scripts/benchmark.py --quick      # one seed, short trainings: about 10 minutes on 2 cores
    python scripts/benchmark.py              # three seeds, full trainings: 49 minutes on 2 cores (2026-12-04)
    python scripts/benchmark.py --ablation   # and DeFlow's ablation: about 2.6 hours (estimated)
        [--out DIR] [--real NAME ...] [--test NAME ...] [--clean NAME ...] [--camera KEY=VALUE ...]
        [--methods ...] [--ablation] [--seeds ...] [--sr-iters N] [--deflow-iters N] [--deflow-seeds N]
        [--deflow-candidates N] [--deflow-heat H|auto]
        [--jobs 2] [--threads 1]
        [--sr-config FILE] [--deflow-config FILE]

A fixed camera (degradations/camera.py) plays the unknown real camera. Three disjoint sets of photos (skimage
names by default; image files or folders of your own): `real`, whose camera LR images are the unpaired real-LR
domain; `test`, whose camera LR images and originals are the scored pairs (originals only for scoring); `clean`, the
HR images of the SR training pairs. Each method of `methods.METHODS` (bicubic, white_noise, pg_fit, realesrgan,
deflow, oracle, dasr) makes the LR images of those pairs its own way; DeFlow trains on --deflow-config (default: the
packaged confs/deflow-bench.yml, the options of confs/cpu/deflow-tiny.yml) with conditioning images made by its
network_g.h, each model picked of --deflow-candidates, and translates with --deflow-heat and --noise-floor;
--ablation adds the paper's DeFlow, each of deflow's switches alone on it and deflow with one thing changed
(methods.py). One SR network,
schedule and seed for all (--sr-config, default: the packaged confs/sr-bench-x2.yml); PSNR / SSIM under rwsr_rgb
(LPIPS where its weights are on the machine); gap closed = (method - bicubic) / (oracle - bicubic), per seed. Realism: a
classifier two-sample test (metrics/realism/c2st.py) of each method's LR against (a) the camera's LR of the same clean
photos, another noise draw: content matched, 50 % = indistinguishable; (b) the real domain: other photos, so
content differences count too and the oracle's accuracy is the floor of that column.

--out (default bench) gets results.json and results.md (results-quick.* with --quick); its runs/ folder the logs
(one per step) and every intermediate, shared by both modes. A re-run reuses what is finished: complete image
folders, trainings whose final checkpoint exists (an unfinished one resumes), scores.
"""
import argparse
import hashlib
import json
import os
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from datetime import datetime
from importlib.resources import files
from pathlib import Path

import torch
import yaml

from deflow.bench.bench_report import markdown, oracle_gap, summarize
from deflow.bench.methods import DEFAULT_HEAT, METHODS, pick_records, real_nlf_distance
from deflow.bench.report_figures import bench_figures
from deflow.bench.run import machine, overrides, run
from deflow.config import load_options, load_yaml_with_includes
from deflow.errors import UserError, user_errors_exit_2
from deflow.imageio import list_images, read_image
from deflow.models.loading import pick_device
from deflow.tools.sample_photos import photo_sources, source_name, write_photo_set
from degradations.camera import Camera, CameraParams
from degradations.cli import degrade_folder
from degradations.pipeline import Pipeline
from metrics.noise import noise_sigma
from metrics.realism import akld, c2st_accuracy, detail_transfer, estimate_nlf, sample_patches

CONFIGS = {"sr": files("deflow.bench") / "confs/sr-bench-x2.yml",  # the packaged defaults of --sr-config and
           "deflow": files("deflow.bench") / "confs/deflow-bench.yml"}  # --deflow-config
SPLIT = {"real": ["coffee", "hubble_deep_field", "retina"],
         "test": ["chelsea", "motorcycle_right", "astronaut"],
         "clean": ["rocket", "immunohistochemistry", "motorcycle_left"]}
MULTIPLE = 8        # photo sides: LR = /2 and DeFlow's conditioning = LR / 4 stay aligned
CAMERA_SEED = 1000  # the world's noise draws (real domain, test LR); CAMERA_SEED + 1: the realism reference
PATCH = 32          # LR patch side of the realism test


@dataclass(frozen=True)
class Budget:
    """deflow_seeds: independent DeFlow models n; SR seed s uses model s % n, so the spread over seeds holds
    DeFlow's own training variance. deflow_candidates: c > 1 trains n c models (seeds 0..n c - 1 added to the
    config's manual_seed) and model s % n is the one of s % n + n j (j < c) picked by the unpaired noise-level
    function (methods.pick_model). deflow_heat: translate's --heat."""
    deflow_iters: int
    sr_iters: int
    seeds: tuple[int, ...]
    c2st_patches: int
    c2st_steps: int
    deflow_seeds: int = 1
    deflow_heat: str = DEFAULT_HEAT
    deflow_candidates: int = 1


BUDGETS = {"quick": Budget(300, 300, (0,), 512, 150),
           "full": Budget(1500, 1300, (0, 1, 2), 1024, 200, deflow_seeds=2, deflow_candidates=2)}


KEPT_RINGS = slice(5, 10)  # detail_transfer's rings of 0.25-0.5 cycles/px (10 rings)


def detail_kept(images: list[torch.Tensor], bicubic: list[torch.Tensor]) -> float:
    """The mean detail transfer (metrics.realism.detail_transfer) at 0.25-0.5 cycles/px of LR images against the
    bicubic LR of the same photos: 1 for the bicubic LR, below 1 where a degradation blurs, above where it adds detail
    correlated with the image."""
    return float(detail_transfer(images, bicubic, 10)[1][KEPT_RINGS].mean())


class Progress:
    """One line per finished step: time since the start, the step, what it did and how long it took."""

    def __init__(self):
        self.start, self.lock = time.time(), threading.Lock()

    def __call__(self, step: str, detail: str = "", since: float | None = None) -> None:
        took = f" ({time.time() - since:.0f} s)" if since is not None else ""
        elapsed = time.time() - self.start
        with self.lock:
            print(f"[{int(elapsed // 60):3d}:{int(elapsed % 60):02d}] {step}: {detail}{took}", flush=True)


class Bench:
    """Paths, settings and the steps of one benchmark folder."""

    table: dict | None = None  # name -> Method for the names in `methods` (None: methods.METHODS)

    def __init__(self, args, budget: Budget, camera: Camera, split: dict, progress: Progress,
                 table: dict | None = None):
        self.out, self.budget, self.camera, self.split = args.out / "runs", budget, camera, split
        self.progress = progress
        self.methods, self.jobs, self.table = args.methods, args.jobs, table
        self.configs = {"sr": args.sr_config, "deflow": args.deflow_config}
        self.env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
        self.py = sys.executable
        self.device = pick_device("auto")
        self.info: dict = {}  # measured settings of the report: noise estimates, fits of the methods
        self.real_lr, self.test_lr = self.out / "lr/real", self.out / "lr/test"
        self.reference_lr, self.bicubic_lr = self.out / "lr/camera_reference", self.out / "lr/bicubic"
        self.realism_images: dict[str, list[torch.Tensor]] = {}  # "reference", "real", "bicubic": read by prepare()
        self.real_nlf = None  # the real domain's noise-level function, estimated by prepare()

    # ------------------------------------------------------------ folders
    def photos(self, role: str) -> Path:
        return self.out / "photos" / role

    def method(self, name: str):
        return (self.table or METHODS)[name]

    def key(self, method: str) -> str:
        folder = self.method(method).folder
        return folder(self.budget) if folder else method

    def lr(self, method: str, seed: int) -> Path:
        return self.out / "lr" / self.key(method) / f"seed{seed}"

    def run_dir(self, kind: str, method: str, seed: int) -> Path:
        return self.out / kind / self.key(method) / f"seed{seed}_it{self.budget.sr_iters}"

    def complete(self, folder: Path, role: str = "clean") -> bool:
        return all((folder / f"{source_name(source)}.png").exists() for source in self.split[role])

    def degrade(self, pipeline, role: str, folder: Path, seed: int, step: str) -> Path:
        if not self.complete(folder, role):
            started = time.time()
            degrade_folder(pipeline, self.photos(role), folder, seed)
            self.progress(step, f"{len(self.split[role])} LR images in {folder}", started)
        return folder

    def run_logged(self, step: str, cmd: list, log_name: str) -> None:
        log = self.out / "logs" / f"{log_name}.log"
        self.progress(step, f"started, log {log}")
        started = time.time()
        run([str(c) for c in cmd], log, self.env)
        self.progress(step, "done", started)

    # ------------------------------------------------------------ the world: photos and the camera's images
    def prepare(self) -> None:
        started = time.time()
        for role, sources in self.split.items():
            write_photo_set(self.photos(role), sources, MULTIPLE)
        self.progress("photos", "  ".join(f"{role}: {', '.join(map(source_name, sources))}"
                                          for role, sources in self.split.items()), started)
        self.degrade(self.camera, "real", self.real_lr, CAMERA_SEED, "camera -> real domain")
        self.degrade(self.camera, "test", self.test_lr, CAMERA_SEED, "camera -> test LR")
        self.degrade(self.camera, "clean", self.reference_lr, CAMERA_SEED + 1,
                     "camera -> clean photos (realism reference)")
        self.degrade(Pipeline.from_name_or_file("bicubic", 2), "clean", self.bicubic_lr, 0, "bicubic LR")
        self.info["noise_std_8bit"] = {"real_domain": noise_sigma(list_images(self.real_lr)),
                                       "test_lr": noise_sigma(list_images(self.test_lr)),
                                       "camera_on_clean": noise_sigma(list_images(self.reference_lr))}
        for method in self.methods:
            if self.method(method).setup:
                self.method(method).setup(self)
        images = {"reference": self.reference_lr, "real": self.real_lr, "bicubic": self.bicubic_lr}
        self.realism_images = {k: [read_image(p) for p in list_images(v)] for k, v in images.items()}
        self.real_nlf = estimate_nlf(self.realism_images["real"])
        self.info["detail_kept_camera"] = detail_kept(self.realism_images["reference"], self.realism_images["bicubic"])

    # ------------------------------------------------------------ one SR model: train, score, realism
    def sr_run(self, method: str, seed: int) -> dict:
        lr_dir = self.method(method).make_lr(self, seed, self.lr(method, seed))
        iters, root = self.budget.sr_iters, self.run_dir("sr", method, seed)
        checkpoint = root / "checkpoints" / f"iter_{iters:08d}.pth"
        step = f"sr {method} seed {seed}"
        if not checkpoint.exists():
            own = self.method(method).sr_training
            config, sets = own(self, iters) if own else (self.configs["sr"], {
                "datasets.train.dataroot_gt": self.photos("clean"), "datasets.train.dataroot_lq": lr_dir,
                "datasets.val.dataroot_gt": self.photos("clean"), "datasets.val.dataroot_lq": lr_dir,
                "train.scheduler.milestones": [iters * 3 // 4]})
            sets = {"name": f"sr_bench_{method}_seed{seed}", "manual_seed": seed, "train.total_iter": iters,
                    "logger.save_checkpoint_freq": max(100, iters // 3), "path.experiments_root": root, **sets}
            self.run_logged(f"{step} training ({iters} it)", [self.py, "-m", "deflow.train", "-opt", config,
                                                              "--resume", "auto", *overrides(sets)],
                            f"sr_{self.key(method)}_seed{seed}_it{iters}")
        scores_dir = self.run_dir("eval", method, seed)
        metrics_file = scores_dir / "metrics.json"
        if not metrics_file.exists() or metrics_file.stat().st_mtime < checkpoint.stat().st_mtime:
            self.run_logged(f"{step} scoring", [
                self.py, "-m", "deflow.tools.test_sr", "--model_path", checkpoint, "--input", self.test_lr, "--gt",
                self.photos("test"), "--out", scores_dir], f"eval_{self.key(method)}_seed{seed}_it{iters}")
        scores = json.loads(metrics_file.read_text())
        result = {"method": method, "seed": seed, **{k: scores["mean"][k] for k in ("psnr", "ssim", "lpips")},
                  "per_image": {row["name"]: {"psnr": row["psnr"], "ssim": row["ssim"]} for row in scores["images"]},
                  "lpips_unavailable": scores["lpips_unavailable"],
                  "lr_noise_std_8bit": noise_sigma(list_images(lr_dir)),
                  **self.realism(method, seed, lr_dir, scores_dir)}
        self.progress(step, f"PSNR {result['psnr']:.3f}  SSIM {result['ssim']:.4f}  C2ST vs camera "
                      f"{result['c2st_vs_camera']:.3f}  vs real domain {result['c2st_vs_real_domain']:.3f}")
        return result

    def realism(self, method: str, seed: int, lr_dir: Path, scores_dir: Path) -> dict:
        """C2ST against the camera's LR of the same photos and against the real domain; AKLD against the camera
        (both noisy versions of each clean photo's bicubic LR); the NLF distance to the real domain (unpaired); the
        detail kept (detail_kept) against the bicubic LR of the same photos, the camera's own in the settings."""
        n, steps = self.budget.c2st_patches, self.budget.c2st_steps
        synthetic = [read_image(p) for p in list_images(lr_dir)]
        kept = {"detail_kept": detail_kept(synthetic, self.realism_images["bicubic"])}
        cache = scores_dir / f"realism_n{n}_steps{steps}_akld_nlf.json"
        if cache.exists():
            return {**json.loads(cache.read_text()), **kept}
        started = time.time()
        result = {}
        for i, (name, images) in enumerate([("c2st_vs_camera", self.realism_images["reference"]),
                                            ("c2st_vs_real_domain", self.realism_images["real"])]):
            a = sample_patches(synthetic, n, PATCH, torch.Generator().manual_seed(10 * seed + 2 * i))
            b = sample_patches(images, n, PATCH, torch.Generator().manual_seed(10 * seed + 2 * i + 1))
            result[name] = c2st_accuracy(a.to(self.device), b.to(self.device), seed=seed, steps=steps)
        result["akld_vs_camera"] = akld(synthetic, self.realism_images["reference"], self.realism_images["bicubic"])
        result["nlf_distance_8bit"] = real_nlf_distance(self, synthetic)
        cache.write_text(json.dumps(result))
        self.progress(f"realism {method} seed {seed}", f"{n} patches of {PATCH} px per class; AKLD "
                      f"{result['akld_vs_camera']:.3f}", started)
        return {**result, **kept}

    def realism_page(self, seed: int, out: Path) -> None:
        """metrics.realism's figures (noise-level curves, residual spectra) of every method's LR for `seed`."""
        folders = [self.method(m).make_lr(self, seed, self.lr(m, seed)) for m in self.methods]
        self.run_logged("realism figures", [
            self.py, "-m", "metrics.realism", "--real", self.reference_lr, "--clean", self.bicubic_lr,
            "--synthetic", *folders, "--out", out, "--patches", self.budget.c2st_patches,
            "--steps", self.budget.c2st_steps], "realism_page")

    # ------------------------------------------------------------ everything, in parallel where independent
    def run_all(self, seeds: tuple[int, ...], on_result) -> list[dict]:
        """Every (method, seed) SR run, seed by seed, `jobs` at a time. A method's `train` runs first in a slot of
        its own; the jobs it returns (DeFlow's models) then run each in a slot, and the method's SR runs join the
        queue when all are done. `on_result(results)` after each run."""
        todo = [(method, seed) for seed in seeds for method in self.methods]
        results, running = [], {}  # running: future -> its (method, seed), or None for a training step
        with ThreadPoolExecutor(self.jobs) as pool:
            planning: dict = {}  # future of a train call -> its train function: methods that share it share it
            trained: dict = {}  # train function -> the futures of the jobs it returned, once it has returned
            for m in self.methods:
                train = self.method(m).train
                if train and train not in planning.values():
                    planning[pool.submit(train, self)] = train
            running.update(dict.fromkeys(planning))
            waiting = set(planning.values())

            def ready(method: str) -> bool:
                train = self.method(method).train
                return train not in waiting and all(f.done() for f in trained.get(train, ()))
            try:
                while todo or running:
                    for job in [job for job in todo if ready(job[0])][:max(0, self.jobs - len(running))]:
                        todo.remove(job)
                        running[pool.submit(self.sr_run, *job)] = job
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in done:
                        value, job = future.result(), running.pop(future)
                        if future in planning:
                            train = planning[future]
                            trained[train] = [pool.submit(step) for step in value]
                            running.update(dict.fromkeys(trained[train]))
                            waiting.discard(train)
                        elif job is not None:
                            results.append(value)
                            on_result(results)
            except BaseException:
                for future in running:
                    future.cancel()
                raise
        return results


# ---------------------------------------------------------------- command line

def parse_args(argv=None) -> argparse.Namespace:
    cores = os.cpu_count() or 1
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one seed and short trainings (about 10 min on 2 cores)")
    parser.add_argument("--out", type=Path, default=Path("bench"), help="output folder (default bench)")
    for role, names in SPLIT.items():
        parser.add_argument(f"--{role}", nargs="+", default=names, metavar="PHOTO",
                            help=f"photos of the {role} set: skimage names, image files or folders "
                                 f"(default: {' '.join(names)})")
    parser.add_argument("--camera", nargs="+", default=[], metavar="KEY=VALUE",
                        help="camera parameters (degradations/camera.py CameraParams), e.g. read_std=0.03 isp=srgb")
    parser.add_argument("--methods", nargs="+", choices=list(METHODS),
                        default=[m for m, method in METHODS.items() if not method.ablation],
                        help="default: all but DeFlow's ablation arms")
    parser.add_argument("--ablation", action="store_true",
                        help="also DeFlow's ablation: the paper's DeFlow and each of deflow's switches alone")
    parser.add_argument("--seeds", nargs="+", type=int, help="default: 0 (quick), 0 1 2 (full)")
    parser.add_argument("--sr-iters", type=int, help="SR training iterations (default 300 quick, 1300 full)")
    parser.add_argument("--deflow-iters", type=int, help="DeFlow training iterations (default 300 quick, 1500 full)")
    parser.add_argument("--deflow-seeds", type=int, help="DeFlow models trained (default 1 quick, 2 full)")
    parser.add_argument("--deflow-candidates", type=int, help="DeFlow models trained per --deflow-seeds model, "
                        "the one kept picked by the unpaired noise-level-function distance to the real domain "
                        "(default 1 quick, 2 full)")
    parser.add_argument("--deflow-heat", default=DEFAULT_HEAT, help="translate's --heat for the deflow method (which "
                        "also raises the noise floor, translate --noise-floor): a number, or 'auto' (the heat whose "
                        f"noise-level function matches the real domain's); default {DEFAULT_HEAT}")
    parser.add_argument("--jobs", type=int, default=min(2, cores), help="steps run side by side")
    parser.add_argument("--threads", type=int, help="torch threads per step (default: cores / jobs)")
    parser.add_argument("--sr-config", type=Path, default=CONFIGS["sr"], metavar="FILE",
                        help="the SR training config, x2 (default: the packaged deflow/bench/confs/sr-bench-x2.yml)")
    parser.add_argument("--deflow-config", type=Path, default=CONFIGS["deflow"], metavar="FILE",
                        help="the DeFlow training config (default: the packaged deflow/bench/confs/deflow-bench.yml)")
    args = parser.parse_args(argv)
    args.threads = args.threads or max(1, cores // max(1, args.jobs))
    if args.ablation:
        args.methods = list(dict.fromkeys([*args.methods, *(m for m, method in METHODS.items() if method.ablation)]))
    return args


def check_settings(args) -> tuple[dict, Camera, Budget]:
    split = {role: photo_sources(getattr(args, role)) for role in SPLIT}
    seen: dict[str, str] = {}
    for role, sources in split.items():
        for source in sources:
            name = source_name(source)
            if name in seen:
                raise UserError(f"photo {name} is in both --{seen[name]} and --{role}; the sets must be disjoint "
                                "(and photos need distinct file names)")
            seen[name] = role
    values = {}
    for item in args.camera:
        key, sep, text = item.partition("=")
        if not sep:
            raise UserError(f"--camera {item}: expected KEY=VALUE, e.g. read_std=0.03")
        values[key] = yaml.safe_load(text)
    camera = Camera(CameraParams.from_dict(values))
    if camera.scale != 2:
        raise UserError(f"--camera scale={camera.scale}: the benchmark is x2 (its SR config is x2)")
    budget = BUDGETS["quick" if args.quick else "full"]
    given = {key: getattr(args, key) for key in ("sr_iters", "deflow_iters", "deflow_seeds", "deflow_candidates")}
    budget = replace(budget, seeds=tuple(dict.fromkeys(args.seeds or budget.seeds)), deflow_heat=args.deflow_heat,
                     **{key: value for key, value in given.items() if value is not None})
    for key in given:
        if getattr(budget, key) < 1:
            raise UserError(f"--{key.replace('_', '-')} must be >= 1")
    if budget.deflow_heat != "auto":
        try:
            float(budget.deflow_heat)
        except ValueError:
            raise UserError(f"--deflow-heat {budget.deflow_heat}: expected a number or 'auto'") from None
    if CAMERA_SEED + 1 in budget.seeds:
        raise UserError(f"--seeds: {CAMERA_SEED + 1} is the realism reference's camera seed; choose another")
    if args.jobs < 1 or args.threads < 1:
        raise UserError("--jobs and --threads must be >= 1")
    return split, camera, budget


def config_hashes(args) -> dict[str, str]:
    """{"sr", "deflow": sha1 of the config's settings as written (includes expanded)}: what the folder's runs were
    trained with, and not the defaults filled in, so a key a newer deflow adds does not orphan a folder. Both
    configs must load; the SR config must be x2, as the camera and the bicubic LR."""
    paths = {"sr": Path(args.sr_config), "deflow": Path(args.deflow_config)}
    options = {name: load_options(path) for name, path in paths.items()}
    if options["sr"]["scale"] != 2:
        raise UserError(f"--sr-config {args.sr_config}: scale {options['sr']['scale']}; the benchmark is x2, "
                        "set scale: 2")
    return {name: hashlib.sha1(json.dumps(load_yaml_with_includes(path), sort_keys=True, default=str).encode())
            .hexdigest() for name, path in paths.items()}


def shown(path: Path) -> str:
    """A config's path as the report names it: relative to the working directory where it lies below it."""
    path, here = Path(path).resolve(), Path.cwd().resolve()
    return str(path.relative_to(here) if path.is_relative_to(here) else path)


def check_folder(out: Path, world: dict) -> None:
    """An --out folder belongs to one split, camera and pair of configs: reusing its images and trainings under other
    settings would mix them."""
    path = out / "settings.json"
    if path.exists():
        before = json.loads(path.read_text())
        if before != world:
            changed = [k for k in world if before.get(k) != world[k]]
            raise UserError(f"{out} holds a benchmark with another {', '.join(changed)}; choose another --out")
    else:
        out.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(world, indent=2))


@user_errors_exit_2
def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    split, camera, budget = check_settings(args)
    check_folder(args.out / "runs", {"split": split, "camera": camera.params.as_dict(), "camera_seed": CAMERA_SEED,
                                     "config_sha1": config_hashes(args)})
    torch.set_num_threads(args.threads)
    progress = Progress()
    bench = Bench(args, budget, camera, split, progress)
    load = os.getloadavg()[0]
    run_info = {"mode": "quick" if args.quick else "full",
                "date": datetime.now().astimezone().isoformat(timespec="seconds"),
                "machine": machine(load, "at start", f"{bench.device}; {args.jobs} jobs x {args.threads} thread(s)"),
                "command": " ".join(["python scripts/benchmark.py", *argv])}
    progress("start", f"{run_info['mode']} run into {args.out}: methods {', '.join(args.methods)}, seeds "
             f"{list(budget.seeds)}, SR {budget.sr_iters} it, DeFlow {budget.deflow_iters} it x {budget.deflow_seeds} "
             f"model(s) (each picked of {budget.deflow_candidates}), heat {budget.deflow_heat}")
    bench.prepare()
    lock = threading.Lock()
    report_path = args.out / ("results-quick" if args.quick else "results")
    figures: dict[str, str] = {}  # made once every run is done

    def write(results: list[dict], partial: bool = True) -> dict:
        report = {"run": {**run_info, "wall_seconds": time.time() - progress.start}, "partial": partial,
                  "settings": {"split": split, "camera": camera.params.as_dict(), "camera_seed": CAMERA_SEED,
                               "sr_config": shown(args.sr_config), "sr_iters": budget.sr_iters,
                               "deflow_config": shown(args.deflow_config),
                               "deflow_iters": budget.deflow_iters, "deflow_seeds": budget.deflow_seeds,
                               "deflow_candidates": budget.deflow_candidates,
                               "deflow_heat": budget.deflow_heat, "seeds": list(budget.seeds),
                               "c2st": {"patches_per_class": budget.c2st_patches, "patch": PATCH,
                                        "steps": budget.c2st_steps}, **bench.info,
                               "deflow_picks": pick_records(bench, [bench.key(m) for m in bench.methods])},
                  "lpips_unavailable": next((r["lpips_unavailable"] for r in results if r["lpips_unavailable"]), None),
                  "oracle_minus_bicubic_psnr": oracle_gap(results), "summary": summarize(results, tuple(METHODS)),
                  "ablation": [m for m in METHODS if METHODS[m].ablation],
                  "realism_page": "realism/realism.html" if (args.out / "realism/realism.html").exists() else None,
                  "figures": figures,
                  "runs": sorted(results, key=lambda r: (list(METHODS).index(r["method"]), r["seed"]))}
        with lock:
            report_path.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
            report_path.with_suffix(".md").write_text(markdown(report))
        return report

    results = bench.run_all(budget.seeds, write)
    bench.realism_page(budget.seeds[0], args.out / "realism")
    shown_methods = [m for m in args.methods if not METHODS[m].ablation]
    figures.update(bench_figures(args.out, {role: list(map(source_name, v)) for role, v in split.items()},
                                 {m: bench.key(m) for m in shown_methods},
                                 [m for m in shown_methods if not METHODS[m].sr_training], budget, run_info["command"]))
    report = write(results, partial=False)
    print("\n" + markdown(report), flush=True)
    progress("done", f"{report_path.with_suffix('.md')}, {report_path.with_suffix('.json')}")
