"""Time PSNR + SSIM under rwsr_rgb: deflow's batched torch code against a plain scikit-image loop.

    python scripts/bench_metrics.py [--pairs 100] [--size 512] [--repeat 3] [--threads N] [--device cpu]

Pairs are crops of skimage.data colour photos (GT) and the same crops with Gaussian noise (prediction),
as 8-bit images. Both sides are timed in the same run, alternately, and the medians are compared, as
wall time and as this process's CPU time (the steadier figure on a machine shared with other jobs);
the values are checked to agree within 1e-6 (exit status 1 if not).
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from skimage import data
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from metrics import score  # noqa: E402

PHOTOS = ("astronaut", "immunohistochemistry", "hubble_deep_field", "retina", "coffee", "rocket")


def make_pairs(count: int, size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(gt, pred) uint8 arrays (count, size, size, 3): random crops, and the crops plus noise (sigma 10)."""
    rng = np.random.default_rng(seed)
    photos = []
    for name in PHOTOS:
        img = getattr(data, name)()[:, :, :3]
        factor = size / min(img.shape[:2])
        if factor > 1:  # small photos are enlarged to hold a crop
            img = cv2.resize(img, None, fx=factor * 1.1, fy=factor * 1.1, interpolation=cv2.INTER_CUBIC)
        photos.append(img)
    gt = np.empty((count, size, size, 3), np.uint8)
    for i in range(count):
        img = photos[i % len(photos)]
        top, left = rng.integers(0, img.shape[0] - size + 1), rng.integers(0, img.shape[1] - size + 1)
        gt[i] = img[top:top + size, left:left + size]
    pred = np.clip(gt + rng.normal(0, 10, gt.shape), 0, 255).round().astype(np.uint8)
    return gt, pred


def skimage_loop(gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
    return np.array([(peak_signal_noise_ratio(g, p), structural_similarity(g, p, channel_axis=-1, data_range=255))
                     for g, p in zip(gt, pred)])


def deflow_batched(gt: torch.Tensor, pred: torch.Tensor) -> np.ndarray:
    result = score(pred, gt, "rwsr_rgb", crop_border=0)
    return torch.stack([result["psnr"], result["ssim"]], 1).cpu().numpy()


def timed(fn, *args) -> tuple[float, float, np.ndarray]:
    """(wall seconds, CPU seconds of this process, result)."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn(*args)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - wall, time.process_time() - cpu, out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=100)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    gt_np, pred_np = make_pairs(args.pairs, args.size)
    gt = torch.from_numpy(gt_np).permute(0, 3, 1, 2).float().div(255).to(args.device)
    pred = torch.from_numpy(pred_np).permute(0, 3, 1, 2).float().div(255).to(args.device)
    deflow_batched(gt[:2], pred[:2])  # warm-up

    runs = {"skimage": [], "deflow": []}
    for _ in range(args.repeat):  # alternated, so that a change in machine load hits both sides
        *sk_times, ref = timed(skimage_loop, gt_np, pred_np)
        *de_times, ours = timed(deflow_batched, gt, pred)
        runs["skimage"].append(sk_times)
        runs["deflow"].append(de_times)
    diff = np.abs(ours - ref).max(axis=0)
    (sk_wall, sk_cpu), (de_wall, de_cpu) = ([statistics.median(t) for t in zip(*runs[side])]
                                            for side in ("skimage", "deflow"))
    print(f"{args.pairs} pairs of {args.size}x{args.size} RGB, PSNR + SSIM (rwsr_rgb), device {args.device}, "
          f"torch threads {torch.get_num_threads()}, median of {args.repeat}")
    for label, wall, cpu in (("scikit-image loop", sk_wall, sk_cpu), ("deflow batched", de_wall, de_cpu)):
        print(f"  {label:<18}: {wall:7.3f} s wall ({1000 * wall / args.pairs:.1f} ms/pair), {cpu:7.3f} s CPU")
    print(f"  speed-up          : {sk_wall / de_wall:.1f}x wall, {sk_cpu / de_cpu:.1f}x CPU time   (goal >= 5x)")
    print(f"  max |difference|  : PSNR {diff[0]:.2e} dB, SSIM {diff[1]:.2e}")
    return 0 if diff.max() < 1e-6 else 1


if __name__ == "__main__":
    raise SystemExit(main())
