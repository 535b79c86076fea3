"""What DASR's encoder learned: the representations of held-out LR patches with known degradations, embedded in 2-D
and coloured by blur width and by noise level (DASR, Fig. 6), and a k-nearest-neighbour probe of the blur width.

    python scripts/plot_dasr_repr.py --model_path CKPT --photos HELD_OUT_HR_DIR --out DIR
        [--reference TRAIN_HR_DIR] [--sigma-range 0.2 2.0] [--bins 4] [--noises 0] [--per-bin 48] [--lr-size 32]
        [--embedding tsne|pca] [--k 5] [--seed 0] [--device auto]

Patches: per blur-width bin (`--bins` equal bins of --sigma-range) and noise level, `--per-bin` random crops, each
with a width drawn uniformly inside its bin. The probe's reference patches come from --reference (default: the
model's training photos, datasets.train.dataroot_gt of its options), the probed ones from --photos, so the probe
predicts the bin of patches of images the encoder never saw; chance is 1 / bins. Writes DIR/embedding.png and
DIR/probe.json (accuracy, confusion matrix, settings).
"""
import argparse
import json
import textwrap
from pathlib import Path

import torch

from deflow.errors import UserError, user_errors_exit_2
from deflow.imageio import list_images, read_image
from deflow.models.loading import load_for_inference
from deflow.outputs import output_folder
from sr.dasr.probe import bin_of, degraded_patches, knn_predict, pca_2d, standardise, tsne_2d


def patch_set(images, scale, args, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Degradation parameters (sigma, noise) and the LR patches; per bin and noise level `per_bin` patches."""
    generator = torch.Generator().manual_seed(seed)
    low, high = args.sigma_range
    width = (high - low) / args.bins
    sigmas, noises = [], []
    for b in range(args.bins):
        for noise in args.noises:
            draws = low + width * (b + torch.rand(args.per_bin, generator=generator, dtype=torch.float64))
            sigmas += draws.tolist()
            noises += [noise] * args.per_bin
    return degraded_patches(images, scale, sigmas, noises, args.lr_size, seed)


def represent(model, lr: torch.Tensor, chunk: int = 64) -> torch.Tensor:
    return torch.cat([model.represent(lr[i:i + chunk].to(model.device)).cpu() for i in range(0, len(lr), chunk)])


def plot(points: torch.Tensor, sigma: torch.Tensor, noise: torch.Tensor, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("blur width sigma", sigma)] + ([("noise level (0-255)", noise)] if noise.unique().numel() > 1 else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.6), squeeze=False)
    for ax, (label, values) in zip(axes[0], panels):
        shown = ax.scatter(points[:, 0], points[:, 1], c=values, cmap="viridis", s=9)
        fig.colorbar(shown, ax=ax, label=label)
        ax.set_xticks([]), ax.set_yticks([])
        ax.set_title(f"coloured by {label}")
    fig.suptitle(textwrap.fill(title, 60 * len(panels)), fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


@user_errors_exit_2
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model_path", type=Path, required=True, help="a DASRModel checkpoint")
    parser.add_argument("--photos", type=Path, required=True, help="held-out HR photos (the probed patches)")
    parser.add_argument("--reference", type=Path, help="HR photos of the probe's reference patches "
                        "(default: the model's training photos)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--sigma-range", type=float, nargs=2, default=[0.2, 2.0], metavar=("LOW", "HIGH"))
    parser.add_argument("--bins", type=int, default=4, help="blur-width bins of the probe")
    parser.add_argument("--noises", type=float, nargs="+", default=[0.0], help="noise levels (0-255 scale)")
    parser.add_argument("--per-bin", type=int, default=48, help="patches per bin and noise level")
    parser.add_argument("--lr-size", type=int, default=32, help="LR patch side")
    parser.add_argument("--embedding", choices=["tsne", "pca"], default="tsne")
    parser.add_argument("--k", type=int, default=5, help="neighbours of the probe")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    low, high = args.sigma_range
    if not 0 <= low < high or args.bins < 2 or args.per_bin < 1 or args.k < 1 or args.lr_size < 8:
        raise UserError("--sigma-range needs 0 <= LOW < HIGH, --bins >= 2, --per-bin >= 1, --k >= 1, --lr-size >= 8")
    patches = args.bins * args.per_bin * len(args.noises)
    if args.k > patches:
        raise UserError(f"--k {args.k}: more neighbours than reference patches ({patches}); lower --k or raise "
                        "--per-bin")
    model = load_for_inference(args.model_path, device=args.device, expected_type="DASRModel")
    reference = args.reference or Path(model.opt["datasets"].get("train", {}).get("dataroot_gt") or "")
    if not args.reference and not reference.is_dir():
        raise UserError(f"{args.model_path}: its training photos ({reference}) are not here; pass --reference DIR")
    output_folder(args.out, "--out", (args.photos, reference))
    sets = {}
    for role, folder, seed in (("reference", reference, args.seed + 1), ("held_out", args.photos, args.seed)):
        paths = list_images(folder)
        images = [read_image(p) for p in paths]
        side = args.lr_size * model.scale
        small = [p for p, img in zip(paths, images) if min(img.shape[-2:]) < side]
        if small:
            raise UserError(f"{small[0]}: smaller than the HR patch ({side} px); lower --lr-size")
        lr, sigma, noise = patch_set(images, model.scale, args, seed)
        sets[role] = (represent(model, lr), sigma, noise)
    (ref, ref_sigma, _), (held, held_sigma, held_noise) = sets["reference"], sets["held_out"]
    ref_n, held_n = standardise(ref, held)
    truth, ref_bins = bin_of(held_sigma, low, high, args.bins), bin_of(ref_sigma, low, high, args.bins)
    predicted = knn_predict(ref_n, ref_bins, held_n, args.k)
    confusion = torch.zeros(args.bins, args.bins, dtype=torch.long)
    confusion.index_put_((truth, predicted), torch.ones_like(truth), accumulate=True)
    accuracy = float((predicted == truth).float().mean())
    points = tsne_2d(held) if args.embedding == "tsne" else pca_2d(standardise(held)[0])
    figure = args.out / "embedding.png"
    plot(points, held_sigma, held_noise, figure, f"{args.embedding} of DASR representations, {len(held)} held-out "
         f"patches ({args.photos.name}); {args.k}-NN blur-bin accuracy {accuracy:.1%} (chance {1 / args.bins:.0%})")
    report = {"accuracy": accuracy, "chance": 1 / args.bins, "confusion": confusion.tolist(),
              "bins": [[low + (high - low) * b / args.bins, low + (high - low) * (b + 1) / args.bins]
                       for b in range(args.bins)],
              "held_out_patches": len(held), "reference_patches": len(ref), "k": args.k,
              "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
              "reference": str(reference), "figure": str(figure)}
    (args.out / "probe.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"{args.k}-NN blur-bin accuracy on {len(held)} held-out patches: {accuracy:.1%} (chance "
          f"{1 / args.bins:.0%}); figure {figure}")
