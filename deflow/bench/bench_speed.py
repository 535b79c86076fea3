"""How fast deflow runs on this machine, against this machine's own peaks and references measured in the same run:

    python scripts/bench_speed.py [--out bench-speed] [--quick] [--device auto|cpu|cuda] [--threads N]

    peaks       fp32 GFLOP/s of a large square torch.mm and of a 64 -> 64 channel 3x3 conv2d, best of several
    training    steps per second of the CPU DeFlow and RRDB configs through the trainer's own `train_step`, data and
                model built as `deflow.trainer.train` builds them, on skimage photos written into a temporary
                folder; the FLOPs of one step (forward and backward, torch.utils.flop_counter) give the achieved
                GFLOP/s, a fraction of the matmul peak
    rrdb        RRDBNet inference (the RRDB config's network) against ReferenceRRDBNet below, the same weights,
                outputs checked equal within 1e-5 before timing
    tiles       test_sr.py's tiled inference of one 1024x1024 image against the whole image at once (PSNR); and
                translate.py's, whose output is random: each tile draws its own noise, so tile sizes give different
                draws, not one image; measured instead are the translation's local noise (the std of translation -
                source in AKLD's 7x7 window) within 3 px of the cut join's seams against everywhere else, and its
                noise at tile 256 against the whole image translated at once
    large       one 4096x4096 image through translate.py's `translate_image` (degrade mode, with the DeFlow model of
                the training section) and through test_sr.py's tiled inference (the RRDB model of the training
                section, x2: an 8192x8192 output); each in a process of its own, which reports its peak RSS
                (/proc/self/status VmHWM) and on CUDA torch.cuda.max_memory_allocated
    metrics     PSNR, SSIM and (when its backbone weights are on the machine) LPIPS in megapixels per second

Absolute times move with the machine's load (the 1-minute load average is recorded at the start and the end); the
ratios are the figures to read. The goals are printed as met / not met. --quick: small sizes (1024x1024 images,
fewer repeats). Writes DIR/speed.json and DIR/speed.md.
"""
import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader
from torch.utils.flop_counter import FlopCounterMode

from deflow import checkpoint
from deflow.config import load_options
from deflow.data.sampler import ResumableSampler
from deflow.devices import pick_device
from deflow.errors import UserError, user_errors_exit_2
from deflow.outputs import output_folder
from deflow.registry import ARCHS, DATASETS

CONFIGS = {"deflow": Path("confs/cpu/deflow-tiny.yml"), "rrdb": Path("confs/cpu/sr-rrdb-x2.yml")}
GIB = 2 ** 30
GOAL_PEAK_FRACTION = 0.35
GOAL_REFERENCE_SPEED = 1.0
GOAL_IMAGE, GOAL_RSS = 4096, 2 * GIB
GOAL_TILES_SIDE, GOAL_TILES_PSNR = 1024, 45.0
TILE = 256  # the tile side translate.py and test_sr.py use by default


@dataclass
class Sizes:
    """What each section measures: matmul side, conv side, timing repeats, training warm-up and timed steps, RRDB
    input side, the large image's side, metric image side and count."""
    matmul: int = 4096
    conv: int = 512
    repeats: int = 5
    warmup: int = 3
    steps: int = 20
    rrdb: int = 256
    image: int = 4096
    tiles: int = 1024
    metric: int = 512
    metric_images: int = 8


QUICK = Sizes(matmul=1024, conv=128, repeats=3, warmup=1, steps=3, rrdb=128, image=1024, tiles=512, metric=512,
              metric_images=2)


# ---------------------------------------------------------------- the reference RRDBNet

class ReferenceDenseBlock(nn.Module):
    """ESRGAN's residual dense block (Wang et al. 2018, Fig. 4), written plainly: each 3x3 conv sees the input and
    every earlier output concatenated; the fifth's output, scaled by 0.2, is added to the input."""

    def __init__(self, num_feat: int, num_grow_ch: int):
        super().__init__()
        for i in range(1, 5):
            setattr(self, f"conv{i}", nn.Conv2d(num_feat + (i - 1) * num_grow_ch, num_grow_ch, 3, padding=1))
        self.conv5 = nn.Conv2d(num_feat + 4 * num_grow_ch, num_feat, 3, padding=1)
        self.act = nn.LeakyReLU(0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4):
            features.append(self.act(conv(torch.cat(features, dim=1))))
        return x + 0.2 * self.conv5(torch.cat(features, dim=1))


class ReferenceRRDB(nn.Module):
    def __init__(self, num_feat: int, num_grow_ch: int):
        super().__init__()
        self.rdb1, self.rdb2, self.rdb3 = (ReferenceDenseBlock(num_feat, num_grow_ch) for _ in range(3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 0.2 * self.rdb3(self.rdb2(self.rdb1(x)))


class ReferenceRRDBNet(nn.Module):
    """RRDBNet as BasicSR's basicsr/archs/rrdbnet_arch.py computes it (the same state_dict keys): x2 and x1 inputs
    pixel-unshuffled by 2 and 4 (view and permute, as BasicSR's arch_util.pixel_unshuffle), a trunk of RRDBs with a
    long skip, two nearest x2 upsamplings, two more convs; LeakyReLU 0.2 throughout."""

    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, scale: int = 4, num_feat: int = 64,
                 num_block: int = 23, num_grow_ch: int = 32):
        super().__init__()
        self.unshuffle = 4 // scale
        self.conv_first = nn.Conv2d(num_in_ch * self.unshuffle ** 2, num_feat, 3, padding=1)
        self.body = nn.Sequential(*[ReferenceRRDB(num_feat, num_grow_ch) for _ in range(num_block)])
        self.conv_body = nn.Conv2d(num_feat, num_feat, 3, padding=1)
        self.conv_up1 = nn.Conv2d(num_feat, num_feat, 3, padding=1)
        self.conv_up2 = nn.Conv2d(num_feat, num_feat, 3, padding=1)
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, padding=1)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, padding=1)
        self.act = nn.LeakyReLU(0.2)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.unshuffle
        if s > 1:
            b, c, h, w = x.shape
            x = x.view(b, c, h // s, s, w // s, s).permute(0, 1, 3, 5, 2, 4).reshape(b, c * s * s, h // s, w // s)
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        feat = self.act(self.conv_up1(self.up(feat)))
        feat = self.act(self.conv_up2(self.up(feat)))
        return self.conv_last(self.act(self.conv_hr(feat)))


# ---------------------------------------------------------------- timing and counting

def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def best_seconds(fn, device: torch.device, repeats: int, min_seconds: float = 0.05) -> float:
    """Seconds of one call of `fn`, the best of `repeats` timings of enough calls to last `min_seconds` (the first,
    untimed call warms up and sets how many)."""
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    calls = max(1, math.ceil(min_seconds / max(time.perf_counter() - start, 1e-9)))
    best = math.inf
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        synchronize(device)
        best = min(best, (time.perf_counter() - start) / calls)
    return best


def conv_flops(cin: int, cout: int, kernel: int, height: int, width: int, batch: int = 1) -> int:
    """FLOPs of a conv2d's forward pass (a multiply and an add per weight and output pixel), output height x width."""
    return 2 * cin * cout * kernel * kernel * height * width * batch


def count_flops(fn) -> int:
    """FLOPs of the matrix multiplies and convolutions `fn` runs, backward passes included."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


@torch.no_grad()
def peaks(device: torch.device, sizes: Sizes) -> dict:
    n, side = sizes.matmul, sizes.conv
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    product = torch.empty(n, n, device=device)
    mm = best_seconds(lambda: torch.mm(a, b, out=product), device, sizes.repeats)
    conv = nn.Conv2d(64, 64, 3, padding=1).to(device)
    x = torch.randn(1, 64, side, side, device=device)
    conv_s = best_seconds(lambda: conv(x), device, sizes.repeats)
    return {"matmul_side": n, "matmul_gflops": 2 * n ** 3 / mm / 1e9,
            "conv_side": side, "conv_gflops": conv_flops(64, 64, 3, side, side) / conv_s / 1e9}


# ---------------------------------------------------------------- training

def write_training_data(root: Path) -> dict[str, list[str]]:
    """The configs' data folders from skimage photos, laid out as `make demo` lays them out (the real domain without
    the demo camera: a step's time does not depend on the pixels); returns each config's --set overrides."""
    from deflow.tools.create_dataset import build
    from deflow.tools.sample_photos import write_photo_set

    write_photo_set(root / "photos/clean", ["astronaut", "coffee"])
    write_photo_set(root / "photos/real", ["chelsea", "rocket"])
    build(root / "photos/clean", root / "clean", [1, 2, 8], log=lambda line: None)
    build(root / "photos/real", root / "real", [1, 4], log=lambda line: None)
    sr_data = [f"dataroot_gt={root}/clean/1x", f"dataroot_lq={root}/clean/2x"]
    return {"deflow": [f"datasets.train.dataroot_clean_gt={root}/clean/2x",
                       f"datasets.train.dataroot_clean_lq={root}/clean/8x",
                       f"datasets.train.dataroot_degraded_gt={root}/real/1x",
                       f"datasets.train.dataroot_degraded_lq={root}/real/4x"],
            "rrdb": [f"datasets.{phase}.{item}" for phase in ("train", "val") for item in sr_data]}


CHANNELS_LAST = ", channels_last"
LAYOUTS = {"": [], CHANNELS_LAST: ["train.channels_last=true"]}  # each training timed in both memory formats


def training_speed(config: Path, overrides: list[str], device: torch.device, sizes: Sizes, saved: Path) -> dict:
    """Steps per second of `config` after a warm-up, each iteration as the trainer's loop runs it (next batch, to
    the device, train_step, schedulers), AMP off; the FLOPs of one step. The trained model is saved to `saved`."""
    from deflow.trainer import train_step
    from deflow.training_state import build_training, snapshot

    opt = load_options(config, overrides)
    checkpoint.seed_all(opt["manual_seed"])
    ds = opt["datasets"]["train"]
    train_set = DATASETS.get(ds["type"])(ds)
    t = build_training(opt, device, 1, None)
    sampler = ResumableSampler(len(train_set), opt["manual_seed"], ds["dataset_enlarge_ratio"])
    batches = iter(DataLoader(train_set, batch_size=ds["batch_size_per_gpu"], sampler=sampler,
                              num_workers=ds["num_worker_per_gpu"], pin_memory=device.type == "cuda"))

    def step(batch: dict) -> None:
        _, bad = train_step(t, batch, None, opt["train"]["grad_clip"], 1, device)
        if bad is not None:
            raise RuntimeError(f"{config}: non-finite {bad} in the benchmark's training")
        t.iteration += 1
        for scheduler in t.schedulers.values():
            if scheduler is not None:
                scheduler.step()

    for _ in range(sizes.warmup):
        step(t.model.to_device(next(batches)))
    batch = t.model.to_device(next(batches))
    flops = count_flops(lambda: step(batch))
    synchronize(device)
    start = time.perf_counter()
    for _ in range(sizes.steps):
        step(t.model.to_device(next(batches)))
    synchronize(device)
    seconds = time.perf_counter() - start
    checkpoint.save_atomic(snapshot(t, opt, len(train_set) * ds["dataset_enlarge_ratio"], [checkpoint.rng_state()]),
                           saved)
    return {"config": str(config), "batch": ds["batch_size_per_gpu"], "crop": ds["gt_size"],
            "iterations": t.iteration, "steps_per_s": sizes.steps / seconds, "gflop_per_step": flops / 1e9,
            "gflops": flops * sizes.steps / seconds / 1e9}


# ---------------------------------------------------------------- RRDBNet against the reference

@torch.no_grad()
def rrdb_inference(network: dict, device: torch.device, sizes: Sizes) -> dict:
    """Ours and the reference on one (1, 3, side, side) input, the same weights; timed alternately, best of each."""
    kwargs = {k: v for k, v in network.items() if k != "type"}
    ours = ARCHS.get(network["type"])(**kwargs).to(device).eval()
    reference = ReferenceRRDBNet(**kwargs).to(device).eval()
    reference.load_state_dict(ours.state_dict())
    x = torch.rand(1, 3, sizes.rrdb, sizes.rrdb, generator=torch.Generator().manual_seed(0)).to(device)
    difference = (ours(x) - reference(x)).abs().max().item()
    if not difference <= 1e-5:
        raise RuntimeError(f"RRDBNet and the reference differ by {difference:.3g} on the same weights")
    ours_s = reference_s = math.inf
    for _ in range(sizes.repeats):
        ours_s = min(ours_s, best_seconds(lambda: ours(x), device, 1))
        reference_s = min(reference_s, best_seconds(lambda: reference(x), device, 1))
    return {"network": kwargs, "input_side": sizes.rrdb, "max_abs_difference": difference, "ours_ms": ours_s * 1e3,
            "reference_ms": reference_s * 1e3, "time_ratio": ours_s / reference_s}


# ---------------------------------------------------------------- one large image, in a process of its own

def memory_status(field: str) -> int | None:
    """Bytes of a /proc/self/status field (VmHWM: peak resident set, VmRSS: now); None where there is no /proc."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def peak_rss() -> int:
    found = memory_status("VmHWM")
    if found is not None:
        return found
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss if sys.platform == "darwin" else maxrss * 1024  # bytes on macOS, KiB on Linux


def inference_case(case: str, model_path: str, image_path: str, device: str, threads: int) -> dict:
    """Run in a fresh process: one image through the CLI's function, timed; this process's peak memory."""
    from deflow.flow.deflow_model import image_generator
    from deflow.imageio import read_image
    from deflow.models.loading import load_for_inference
    from deflow.tools.test_sr import sr_image
    from deflow.tools.translate import translate_image

    torch.set_num_threads(threads)
    model = load_for_inference(model_path, device=device)
    image = read_image(image_path)
    if model.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(model.device)
    rss_before = memory_status("VmRSS")
    with torch.no_grad():
        synchronize(model.device)
        start = time.perf_counter()
        if case == "translate":
            generator = image_generator(0, Path(image_path).name, model.device)
            out = translate_image(model, image, "degrade", generator, tile=TILE)
        else:
            out = sr_image(model, image, TILE, torch.uint8)  # as test_sr.py makes it for an 8-bit file
        synchronize(model.device)
        seconds = time.perf_counter() - start
    cuda_peak = torch.cuda.max_memory_allocated(model.device) if model.device.type == "cuda" else None
    return {"case": case, "input": list(image.shape[-2:]), "output": list(out.shape[-2:]), "tile": TILE,
            "seconds": seconds, "peak_rss_bytes": peak_rss(), "rss_before_bytes": rss_before,
            "cuda_peak_bytes": cuda_peak}


CHILD = ("import json, sys; from deflow.bench.bench_speed import inference_case; "
         "print(json.dumps(inference_case(**json.loads(sys.argv[1]))))")


def run_case(**kwargs) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD, json.dumps(kwargs)], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"inference case {kwargs['case']} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


SEAM_BAND = 3  # px either side of a seam


@torch.no_grad()
def tile_checks(models: dict[str, Path], image_path: Path, device: torch.device) -> dict:
    """Tiled (TILE) against whole-image inference of one image: SR's PSNR; translate's noise at seams and overall."""
    from deflow.flow.deflow_model import image_generator
    from deflow.imageio import read_image
    from deflow.models.loading import load_for_inference
    from deflow.tiling import cut_seams
    from deflow.tools.test_sr import sr_image
    from deflow.tools.translate import OVERLAP, local_residual_variance, translate_image
    from metrics.psnr import psnr

    image = read_image(image_path)
    side = image.shape[-1]
    sr = load_for_inference(str(models["sr"]), device=device)
    whole, tiled = sr_image(sr, image, None), sr_image(sr, image, TILE)
    flow = load_for_inference(str(models["translate"]), device=device)
    noise = {}
    for name, tile in (("whole", None), ("tiled", TILE)):
        out = translate_image(flow, image, "degrade", image_generator(0, image_path.name, flow.device), tile=tile)
        noise[name] = local_residual_variance(out, image).mean(0)  # (H, W): mean over channels
    seam = torch.zeros(side, side, dtype=torch.bool)
    for at in cut_seams(side, TILE, OVERLAP):
        seam[at - SEAM_BAND:at + SEAM_BAND] = True
        seam[:, at - SEAM_BAND:at + SEAM_BAND] = True
    std = {name: noise_map[mask].mean().sqrt().item() * 255 for name, noise_map, mask in (
        ("seams", noise["tiled"], seam), ("elsewhere", noise["tiled"], ~seam),
        ("tiled", noise["tiled"], torch.ones_like(seam)), ("whole_image", noise["whole"], torch.ones_like(seam)))}
    return {"side": side, "tile": TILE, "sr_psnr_db": float(psnr(tiled.clamp(0, 1), whole.clamp(0, 1))[0]),
            "translate_noise_std_8bit": std, "translate_seam_ratio": std["seams"] / std["elsewhere"],
            "translate_tiled_to_whole_ratio": std["tiled"] / std["whole_image"]}


def write_large_image(path: Path, side: int) -> Path:
    from deflow.imageio import write_image
    from deflow.tools.sample_photos import photo

    write_image(path, F.interpolate(photo("astronaut")[None], size=(side, side), mode="bicubic")[0].clamp(0, 1))
    return path


# ---------------------------------------------------------------- metrics

def metric_images(side: int, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(pred, gt), each (count, 3, side, side): skimage photos resized to side x side, plus noise (sigma 10/255) in
    pred."""
    from deflow.tools.sample_photos import photo

    names = ("astronaut", "coffee", "chelsea", "rocket")
    gt = torch.cat([F.interpolate(photo(names[i % len(names)])[None], size=(side, side), mode="bilinear",
                                  antialias=True) for i in range(count)]).clamp(0, 1)
    noise = torch.randn(gt.shape, generator=torch.Generator().manual_seed(0)) * (10 / 255)
    return (gt + noise).clamp(0, 1), gt


def metric_throughput(device: torch.device, sizes: Sizes) -> dict:
    """Megapixels per second of each metric function on `metric_images` (8-bit RGB, no crop)."""
    from metrics import load_lpips
    from metrics.psnr import psnr
    from metrics.ssim import ssim

    pred, gt = (x.to(device) for x in metric_images(sizes.metric, sizes.metric_images))
    megapixels = sizes.metric_images * sizes.metric ** 2 / 1e6
    functions = {"psnr": lambda: psnr(pred, gt), "ssim": lambda: ssim(pred, gt)}
    lpips = load_lpips("alex", device=device)
    if lpips.available:
        functions["lpips"] = lambda: lpips(pred, gt)
    rates = {name: megapixels / best_seconds(fn, device, sizes.repeats) for name, fn in functions.items()}
    return {"side": sizes.metric, "images": sizes.metric_images, "megapixels_per_s": rates,
            "lpips": "alex" if lpips.available else f"unavailable: {lpips.reason}"}


# ---------------------------------------------------------------- report

def goals(report: dict) -> list[dict]:
    """Each goal of the issue, met (True / False) or not measured (None, with the reason)."""
    peak = report["peaks"]["matmul_gflops"]
    found = [{"goal": f"training {name}: >= {GOAL_PEAK_FRACTION:.0%} of the matmul peak",
              "measured": f"{run['gflops'] / peak:.1%}", "met": run["gflops"] / peak >= GOAL_PEAK_FRACTION}
             for name, run in report["training"].items()]
    speed = report["rrdb"]["reference_ms"] / report["rrdb"]["ours_ms"]
    found.append({"goal": f"RRDBNet inference >= {GOAL_REFERENCE_SPEED:.1f}x the reference's speed",
                  "measured": f"{speed:.2f}x", "met": speed >= GOAL_REFERENCE_SPEED})
    t = report["tiles"]
    goal = f"SR tiled vs whole {GOAL_TILES_SIDE}x{GOAL_TILES_SIDE}: >= {GOAL_TILES_PSNR:g} dB"
    found.append({"goal": goal, "measured": f"{t['sr_psnr_db']:.1f} dB" + ("" if t["side"] == GOAL_TILES_SIDE else
                  f" at {t['side']}x{t['side']}"), "met": t["sr_psnr_db"] >= GOAL_TILES_PSNR
                  if t["side"] == GOAL_TILES_SIDE else None})
    for name, case in report["large"].items():
        goal = f"{name} of {GOAL_IMAGE}x{GOAL_IMAGE}: peak RSS <= {GOAL_RSS / GIB:.0f} GiB"
        rss = f"{case['peak_rss_bytes'] / GIB:.2f} GiB"
        if case["input"] != [GOAL_IMAGE, GOAL_IMAGE]:
            found.append({"goal": goal, "measured": f"{rss} at {case['input'][0]}x{case['input'][1]}", "met": None})
        else:
            found.append({"goal": goal, "measured": rss, "met": case["peak_rss_bytes"] <= GOAL_RSS})
    return found


def markdown(report: dict) -> str:
    m, peaks_ = report["machine"], report["peaks"]
    peak = peaks_["matmul_gflops"]
    lines = [f"deflow speed on {m['device_name']} ({m['threads']} threads, torch {m['torch']}; 1-minute load "
             f"{m['load_start']:.2f} at the start, {m['load_end']:.2f} at the end)", "",
             "| measure | value | ratio |", "|---|---|---|",
             f"| fp32 matmul peak ({peaks_['matmul_side']}^2 torch.mm) | {peak:.1f} GFLOP/s | 1 |",
             f"| conv 3x3 64->64 ({peaks_['conv_side']}^2) | {peaks_['conv_gflops']:.1f} GFLOP/s | "
             f"{peaks_['conv_gflops'] / peak:.1%} of matmul |"]
    for name, run in report["training"].items():
        base = report["training"].get(name.removesuffix(CHANNELS_LAST))
        versus = f", {run['steps_per_s'] / base['steps_per_s']:.2f}x NCHW's steps/s" if base is not run else ""
        lines.append(f"| training {name} (batch {run['batch']}, crop {run['crop']}) | {run['steps_per_s']:.2f} steps/s,"
                     f" {run['gflop_per_step']:.2f} GFLOP/step, {run['gflops']:.1f} GFLOP/s | "
                     f"{run['gflops'] / peak:.1%} of matmul{versus} |")
    r = report["rrdb"]
    lines.append(f"| RRDBNet inference ({r['input_side']}^2 input) | ours {r['ours_ms']:.1f} ms, reference "
                 f"{r['reference_ms']:.1f} ms | ours/reference time {r['time_ratio']:.2f} |")
    t, n = report["tiles"], report["tiles"]["translate_noise_std_8bit"]
    lines += [f"| sr tiled (tile {t['tile']}) vs whole, {t['side']}^2 | {t['sr_psnr_db']:.1f} dB PSNR | |",
              f"| translate noise std (8-bit), {t['side']}^2 tile {t['tile']}: within {SEAM_BAND} px of seams / "
              f"elsewhere | {n['seams']:.2f} / {n['elsewhere']:.2f} | "
              f"seams/elsewhere {t['translate_seam_ratio']:.3f} |",
              f"| translate noise std (8-bit), tiled / whole image | {n['tiled']:.2f} / {n['whole_image']:.2f} | "
              f"tiled/whole {t['translate_tiled_to_whole_ratio']:.3f} |"]
    for name, case in report["large"].items():
        before = case["rss_before_bytes"]
        notes = [f"RSS {before / GIB:.2f} GiB before it"] if before is not None else []
        if case["cuda_peak_bytes"] is not None:
            notes.append(f"CUDA peak {case['cuda_peak_bytes'] / GIB:.2f} GiB")
        lines.append(f"| {name} {case['input'][0]}x{case['input'][1]} -> {case['output'][0]}x{case['output'][1]} "
                     f"(tile {case['tile']}) | {case['seconds']:.1f} s{''.join(f', {n}' for n in notes)} | peak RSS "
                     f"{case['peak_rss_bytes'] / GIB:.2f} GiB ({case['peak_rss_bytes'] / GOAL_RSS:.0%} of 2 GiB) |")
    mt = report["metrics"]
    for name, rate in mt["megapixels_per_s"].items():
        lines.append(f"| {name} ({mt['images']} x {mt['side']}^2) | {rate:.1f} MP/s | |")
    if "lpips" not in mt["megapixels_per_s"]:
        lines.append(f"| lpips | {mt['lpips']} | |")
    lines += ["", "| goal | measured | |", "|---|---|---|"]
    lines += [f"| {g['goal']} | {g['measured']} | "
              f"{'not measured (--quick size)' if g['met'] is None else 'met' if g['met'] else 'not met'} |"
              for g in report["goals"]]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- the command line

def parse_sizes(quick: bool, assignments: list[str]) -> Sizes:
    sizes = QUICK if quick else Sizes()
    known = {f.name for f in fields(Sizes)}
    for assignment in assignments:
        key, _, value = assignment.partition("=")
        if key not in known or not value.isdigit() or int(value) < 1:
            raise UserError(f"--size {assignment}: expected KEY=N with N >= 1, KEY one of {', '.join(sorted(known))}")
        sizes = replace(sizes, **{key: int(value)})
    return sizes


def writable_folder(folder: Path) -> Path:
    folder = output_folder(folder, "--out")
    try:
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as exc:
        raise UserError(f"--out {folder}: cannot write into the folder ({exc.strerror or exc}); choose another "
                        "folder") from None
    return folder


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench-speed"), help="folder for speed.json and speed.md")
    parser.add_argument("--quick", action="store_true", help="small sizes (1024x1024 images, fewer repeats)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument("--deflow-config", type=Path, default=CONFIGS["deflow"])
    parser.add_argument("--sr-config", type=Path, default=CONFIGS["rrdb"], help="an RRDBNet SRModel config")
    parser.add_argument("--size", action="append", default=[], help=argparse.SUPPRESS)  # tests: KEY=N of Sizes
    args = parser.parse_args(argv)
    if args.threads is not None and args.threads < 1:
        raise UserError(f"--threads {args.threads}: give 1 or more")
    return args


@user_errors_exit_2
def main(argv=None) -> dict:
    args = parse_args(argv)
    sizes = parse_sizes(args.quick, args.size)
    device = pick_device(args.device)
    if load_options(args.deflow_config, training=False)["model_type"] != "DeFlowModel":
        raise UserError(f"--deflow-config {args.deflow_config}: not a DeFlowModel config")
    sr_network = load_options(args.sr_config, training=False)["network_g"]
    if sr_network["type"] != "RRDBNet":
        raise UserError(f"--sr-config {args.sr_config}: network_g is a {sr_network['type']}, the benchmark times "
                        "an RRDBNet against its reference")
    out = writable_folder(args.out)
    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    machine = {"device": str(device), "torch": torch.__version__, "threads": threads, "cpus": os.cpu_count(),
               "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU",
               "cuda_matmul_tf32": torch.backends.cuda.matmul.allow_tf32,
               "cudnn_tf32": torch.backends.cudnn.allow_tf32, "load_start": os.getloadavg()[0]}
    report = {"sizes": asdict(sizes), "machine": machine}
    report["peaks"] = peaks(device, sizes)
    print(f"peaks: matmul {report['peaks']['matmul_gflops']:.1f} GFLOP/s, conv {report['peaks']['conv_gflops']:.1f}"
          " GFLOP/s", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-speed-") as tmp:
        tmp = Path(tmp)
        overrides = write_training_data(tmp / "data")
        configs = {"deflow": args.deflow_config, "rrdb": args.sr_config}
        report["training"] = {}
        for name, config in configs.items():
            for layout, extra in LAYOUTS.items():
                saved = tmp / name / ("model_channels_last.pth" if layout else "model.pth")  # model.pth: the tiles'
                run = training_speed(config, overrides[name] + extra, device, sizes, saved)
                report["training"][name + layout] = run
                print(f"training {name + layout}: {run['steps_per_s']:.2f} steps/s", flush=True)
        report["rrdb"] = rrdb_inference(sr_network, device, sizes)
        report["tiles"] = tile_checks({"translate": tmp / "deflow" / "model.pth", "sr": tmp / "rrdb" / "model.pth"},
                                      write_large_image(tmp / "tiles.png", sizes.tiles), device)
        image = write_large_image(tmp / "large.png", sizes.image)
        report["large"] = {}
        for name, model in (("translate", "deflow"), ("sr", "rrdb")):
            report["large"][name] = run_case(case=name, model_path=str(tmp / model / "model.pth"),
                                             image_path=str(image), device=str(device), threads=threads)
            report["large"][name]["model"] = (f"{configs[model]}, trained {report['training'][model]['iterations']} "
                                              "iterations by the training section")
    report["metrics"] = metric_throughput(device, sizes)
    machine["load_end"] = os.getloadavg()[0]
    report["goals"] = goals(report)
    text = markdown(report)
    (out / "speed.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "speed.md").write_text(text)
    print(text + f"written: {out / 'speed.json'}, {out / 'speed.md'}")
    return report
