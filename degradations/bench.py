"""Throughput of a degradation pipeline on a batch of crops of skimage's colour photos."""
import argparse
import statistics
import time

import torch

from degradations.pipeline import Pipeline

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")


def sample_crops(n: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """(n, 3, size, size) random crops, cycling through PHOTOS."""
    from skimage import data

    photos = [torch.from_numpy(getattr(data, name)()).permute(2, 0, 1).float() / 255 for name in PHOTOS]
    crops = []
    for i in range(n):
        img = photos[i % len(photos)]
        top = int(torch.randint(0, img.shape[1] - size + 1, (), generator=generator))
        left = int(torch.randint(0, img.shape[2] - size + 1, (), generator=generator))
        crops.append(img[:, top:top + size, left:left + size])
    return torch.stack(crops)


def benchmark(pipeline: Pipeline, crops: torch.Tensor, repeats: int) -> list[float]:
    """Crops per second of each repeat (after one warm-up run). Repeat i uses seed i, so the random
    resizes (and thus the cost) differ between repeats."""
    pipeline(crops, torch.Generator().manual_seed(0))
    rates = []
    for seed in range(1, repeats + 1):
        if crops.is_cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        pipeline(crops, torch.Generator().manual_seed(seed))
        if crops.is_cuda:
            torch.cuda.synchronize()
        rates.append(crops.shape[0] / (time.perf_counter() - start))
    return rates


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pipeline", default="realesrgan")
    parser.add_argument("--scale", type=float, default=4)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    pipeline = Pipeline.from_name_or_file(args.pipeline, args.scale)
    crops = sample_crops(args.batch, args.size, torch.Generator().manual_seed(0)).to(args.device)
    rates = benchmark(pipeline, crops, args.repeats)
    overall = len(rates) / sum(1 / r for r in rates)
    print(f"{args.pipeline} x{args.scale:g}, {args.batch} crops {args.size}x{args.size} on {args.device} "
          f"({torch.get_num_threads()} threads): median {statistics.median(rates):.1f} crops/s "
          f"(min {min(rates):.1f}, max {max(rates):.1f}, overall {overall:.1f}; {args.repeats} repeats)")
