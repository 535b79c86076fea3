"""Does DeFlow learn a degradation it never saw in closed form? A measured check on skimage's photos.

    python scripts/deflow_check.py [--out demo_out/deflow_check] [--iters 1500] [--noise 8] [--blur 0.6]
        [--config FILE]

Clean domain: photos at half size. Degraded domain: *other* photos at half size, blurred (Gaussian, sigma --blur)
and noised (Gaussian, sigma --noise / 255), quantised to 8 bit. DeFlow (--config, default the benchmark's packaged
confs/deflow-bench.yml, the options of confs/cpu/deflow-tiny.yml) is trained on the two unpaired domains, then
translates held-out clean photos. The noise level of the translated images, the degraded domain and the
untranslated clean images (what bicubic-only pairs would give) is estimated by one estimator for all:
metrics.noise.noise_std (median absolute deviation of the finest diagonal wavelet sub-band, a high-pass residual, as
skimage.restoration.estimate_sigma).
"""
import argparse
import json
import sys
import time
from pathlib import Path

import torch

from deflow.bench.benchmark import CONFIGS
from deflow.bench.run import run
from deflow.config import load_options
from deflow.errors import user_errors_exit_2
from deflow.imageio import list_images, write_image
from deflow.tools.create_dataset import build
from deflow.tools.sample_photos import photo, write_photo_set
from degradations.blur import blur
from degradations.jpeg import quantize
from degradations.kernels import gaussian_kernel
from degradations.noise import gaussian_noise
from degradations.resize import imresize
from metrics.noise import noise_sigma

CLEAN = ["astronaut", "coffee", "rocket", "immunohistochemistry"]
DEGRADED = ["hubble_deep_field", "motorcycle_left", "retina"]
HELD_OUT = ["chelsea", "motorcycle_right"]


def known_degradation(x: torch.Tensor, blur_sigma: float, noise: float, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    if blur_sigma > 0:
        x = blur(x, gaussian_kernel(7, blur_sigma)[None].expand(x.shape[0], -1, -1))
    return quantize(gaussian_noise(x, noise / 255.0, generator=generator).clamp(0, 1))


@user_errors_exit_2
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("demo_out/deflow_check"))
    parser.add_argument("--config", type=Path, default=CONFIGS["deflow"], metavar="FILE",
                        help="the DeFlow training config (default: the packaged deflow/bench/confs/deflow-bench.yml)")
    parser.add_argument("--iters", type=int, default=1500)
    parser.add_argument("--noise", type=float, default=8.0, help="noise std of the degraded domain, 8-bit units")
    parser.add_argument("--blur", type=float, default=0.6, help="Gaussian blur sigma of the degraded domain")
    args = parser.parse_args(argv)
    out, py = args.out, sys.executable
    started = time.time()

    write_photo_set(out / "photos/clean", CLEAN)
    write_photo_set(out / "photos/held_out", HELD_OUT)
    for i, name in enumerate(DEGRADED):
        half = imresize(photo(name)[None], scale=0.5).clamp(0, 1)
        write_image(out / "photos" / "degraded" / f"{name}.png", known_degradation(half, args.blur, args.noise, i)[0])
    data, options = out / "data", load_options(args.config)
    h, scale = options["network_g"].get("h"), options["scale"]  # the conditioning: the config's h at its scale
    build(out / "photos/clean", data / "clean", [2], multiple=2 * scale)  # clean/2x divides by the scale
    build(out / "photos/held_out", data / "held_out", [2])
    build(data / "clean/2x", data / "clean/h", [scale], h=h)
    build(out / "photos/degraded", data / "degraded", [1, scale], h=h)
    sets = [f"datasets.train.dataroot_clean_gt={data}/clean/2x",
            f"datasets.train.dataroot_clean_lq={data}/clean/h/{scale}x",
            f"datasets.train.dataroot_degraded_gt={data}/degraded/1x",
            f"datasets.train.dataroot_degraded_lq={data}/degraded/{scale}x",
            f"train.total_iter={args.iters}", f"path.experiments_root={out}/experiment"]
    reused = (out / "experiment/checkpoints" / f"iter_{args.iters:08d}.pth").exists()
    train_start = time.time()
    run([py, "-m", "deflow.train", "-opt", str(args.config), "--resume", "auto",
         *sum((["--set", s] for s in sets), [])])
    train_seconds = time.time() - train_start
    ckpt = sorted((out / "experiment/checkpoints").glob("iter_*.pth"))[-1]
    run([py, "-m", "deflow.tools.translate", "--model_path", str(ckpt), "--source_dir", str(data / "held_out/2x"),
         "--out_dir", str(out / "translated"), "--seed", "0"])

    result = {
        "degraded_domain_sigma": noise_sigma(list_images(data / "degraded/1x")),
        "translated_sigma": noise_sigma(list_images(out / "translated")),
        "bicubic_only_sigma": noise_sigma(list_images(data / "held_out/2x")),
        "true_noise_sigma": args.noise, "blur_sigma": args.blur, "iterations": args.iters,
        "train_seconds": None if reused else round(train_seconds, 1), "training_reused": reused,
        "total_seconds": round(time.time() - started, 1),
    }
    result["translated_vs_degraded_ratio"] = result["translated_sigma"] / result["degraded_domain_sigma"]
    (out / "result.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
