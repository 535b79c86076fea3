"""Translate clean images into realistic degraded ones with a trained DeFlow model (or the other way round).

    python scripts/translate.py [-opt CONF] --model_path CKPT --source_dir DIR --out_dir DIR
        [--seed 0] [--heat 1.0 | --heat auto --real DIR] [--noise-floor [white|scaled] --real DIR]
        [--keep-colour SIGMA] [--tile 256] [--device auto]
        [--mode degrade|restore|sample_clean|sample_degraded]

Any image size works (padded to what the flow needs, cropped back). Large images go through in overlapping tiles
so memory stays bounded: `restore` blends the overlaps with linear ramps; the stochastic modes (degrade, sample_*)
take every pixel from one tile, the seam in the middle of the overlap, since a blend of two independent noise
draws has less noise than either. The same seed gives bit-identical outputs: an image's noise comes from the seed and
its name alone. `--list FILE` names the images (one path relative to --source_dir a line) instead of the folder's
listing; an output keeps its image's relative path, as .png.

Under `torchrun --nproc_per_node=N` the images are shared out among the processes, and on several machines with
torchrun's rendezvous (deflow/shards.py): the outputs are bit for bit those of one process. Outputs appear in
--out_dir only when every image is done: a run that fails on a bad input leaves an earlier run's outputs as they
were, and the same command run again skips the images the failed or killed run finished.
"""
import argparse
import math
from pathlib import Path

import torch
from tqdm import tqdm

from deflow.errors import UserError, user_errors_exit_2
from deflow.flow.deflow_model import MODES, image_generator
from deflow.imageio import list_images, read_image, write_image
from deflow.models.loading import load_for_inference
from deflow.shards import Processes, digest, listed_inputs, output_names, run_sharded
from deflow.tiling import apply_tiled, tile_option

OVERLAP = 32  # px shared by neighbouring tiles


def translate_image(model, image: torch.Tensor, mode: str, generator: torch.Generator, heat: float = 1.0,
                    tile: int | None = 256, overlap: int = OVERLAP) -> torch.Tensor:
    """(3, H, W) -> (3, H, W), tiled (see the module docstring)."""
    out = apply_tiled(lambda x: model.convert(x, mode, generator, heat), image[None], tile, overlap, 1, model.device,
                      join="ramp" if mode == "restore" else "cut")  # cut: keeps the sampled noise's level
    return out[0]


def local_residual_variance(translated: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
    """(3, H, W) variance of translated - source around its local mean, per channel and pixel, in [0, 1]^2 units:
    AKLD's 7x7 window (metrics.realism.akld.window_mean) over r^2 minus the square of its mean, reflect padding."""
    from metrics.realism.akld import window_mean

    residual = (translated - source).float()
    return (window_mean(residual.square()) - window_mean(residual).square()).clamp(min=0)


FLOORS = ("white", "scaled")  # --noise-floor's ways to fill the missing noise
GAIN_CAP = 8.0  # scaled floor: at most 18 dB on the flow's own noise, so its clipping residue in saturated regions
# is not blown up; the rest comes from white noise
COARSE_SIGMA = 4.0  # px: the scaled floor leaves the translation's change coarser than this (its colour) as it is


def coarse_part(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """(3, H, W) x through a Gaussian low pass of std `sigma` px (reflect padding)."""
    from degradations.blur import blur
    from degradations.kernels import gaussian_kernel

    return blur(x[None], gaussian_kernel(2 * math.ceil(3 * sigma) + 1, sigma))[0]


def raise_noise_floor(translated: torch.Tensor, source: torch.Tensor, line: torch.Tensor,
                      generator: torch.Generator, floor: str = "white") -> torch.Tensor:
    """Where a translation's local noise is below the target variance line (3, 2) (per channel a, b in 8-bit^2:
    t = a * intensity + b at the source's intensity), raise it to t. `white`: add independent Gaussian noise of
    variance t - v, v = local_residual_variance. `scaled`: split r = translated - source into its coarse part (std
    COARSE_SIGMA low pass: the colour change, kept) and the fine part f (the flow's noise and texture), multiply f by
    g = min(sqrt(t / e), GAIN_CAP) where its local energy e (AKLD's 7x7 window over f^2) is below t, so its spatial
    and cross-channel structure is kept, then add white noise for what is still missing, t - g^2 e. (3, H, W) in,
    (3, H, W) out, unclipped."""
    from metrics.realism.akld import window_mean

    a, b = (line[:, i].to(source).view(3, 1, 1) / 255 ** 2 for i in (0, 1))
    target = a * source.clamp(0, 1) + b
    if floor == "scaled":
        residual = translated - source
        coarse = coarse_part(residual, COARSE_SIGMA)
        fine = residual - coarse
        energy = window_mean(fine.square())
        gain = (target / energy.clamp(min=torch.finfo(energy.dtype).tiny)).sqrt().clamp(1, GAIN_CAP)
        translated, variance = source + coarse + gain * fine, gain.square() * energy
    elif floor == "white":
        variance = local_residual_variance(translated, source)
    else:
        raise ValueError(f"floor {floor!r}: expected one of {FLOORS}")
    noise = torch.randn(source.shape, generator=generator, dtype=source.dtype, device=source.device)
    return translated + noise * (target - variance).clamp(min=0).sqrt()


def keep_source_colour(translated: torch.Tensor, source: torch.Tensor, sigma: float) -> torch.Tensor:
    """translated minus the coarse part (std `sigma` low pass) of translated - source: the source's colours and
    brightness at scales coarser than sigma, the translation's changes finer than that (noise, texture). (3, H, W)
    in, (3, H, W) out."""
    return translated - coarse_part(translated - source, sigma)


def noise_floor_line(sources: list[Path], real_dir: Path) -> torch.Tensor:
    """(3, 2) the target of --noise-floor: the real images' noise variance line minus the source images' own
    (metrics.realism.nlf, unpaired), the noise the translations must hold at least."""
    from metrics.realism.nlf import missing_variance_line

    line = missing_variance_line([read_image(p) for p in list_images(real_dir)], [read_image(p) for p in sources])
    if not line.isfinite().all():
        raise UserError(f"--noise-floor: the images in {real_dir} have too few flat, unclipped regions for a "
                        "noise-level function in some channel; translate without --noise-floor")
    return line


def translate_file(model, source_dir: Path, relative: Path, out_dir: Path, mode: str = "degrade", seed: int = 0,
                   heat: float = 1.0, tile: int | None = 256, overlap: int = OVERLAP,
                   floor: torch.Tensor | None = None, floor_mode: str = "white",
                   keep_colour: float | None = None) -> Path:
    """source_dir/relative into out_dir/relative as PNG, its noise drawn from (seed, relative path); `keep_colour`
    (degrade mode), the sigma of keep_source_colour; `floor`, a target variance line of raise_noise_floor, filled the
    `floor_mode` way. Returns the output's path."""
    generator = image_generator(seed, relative.as_posix(), model.device)
    image = read_image(Path(source_dir) / relative)
    out = translate_image(model, image, mode, generator, heat, tile, overlap)
    if keep_colour:
        out = keep_source_colour(out, image.to(out.device), keep_colour)
    if floor is not None:
        out = raise_noise_floor(out, image.to(out.device), floor, generator, floor_mode).clamp(0, 1)
    target = Path(out_dir) / relative.with_suffix(".png")
    write_image(target, out)
    return target


def translate_folder(model, source_dir: Path, out_dir: Path, mode: str = "degrade", seed: int = 0, heat: float = 1.0,
                     tile: int | None = 256, overlap: int = OVERLAP, floor: torch.Tensor | None = None,
                     floor_mode: str = "white", keep_colour: float | None = None) -> list[Path]:
    """Every image of source_dir into out_dir, in this process and unstaged (main shards, stages and resumes)."""
    source_dir, out_dir = Path(source_dir), Path(out_dir)
    if out_dir.resolve() == source_dir.resolve():
        raise UserError(f"--out_dir {out_dir} is the source folder; choose another folder so no input is overwritten")
    return [translate_file(model, source_dir, Path(path.name), out_dir, mode, seed, heat, tile, overlap, floor,
                           floor_mode, keep_colour)
            for path in tqdm(list_images(source_dir), desc=mode, unit="img")]


def calibrate_heat(model, sources: list[Path], real_dir: Path, seed: int = 0, tile: int | None = 256,
                   bounds: tuple[float, float] = (0.25, 4.0), steps: int = 8,
                   max_images: int = 4) -> tuple[float, float]:
    """The heat whose translations of (up to `max_images` of) `sources` have the noise-level function closest to
    the real degraded images' of `real_dir` (metrics.realism.nlf, unpaired: only the real images are used as a
    reference): a golden-section search over `bounds` with the same noise draws at every heat. Returns (heat, NLF
    distance in 8-bit units). A heat at which the two curves share no measurable intensity bin is never chosen."""
    from metrics.realism.nlf import estimate_nlf, nlf_distance

    target = estimate_nlf([read_image(p) for p in list_images(real_dir)])
    sources = sources[:max_images]
    images = [read_image(p) for p in sources]

    def distance(heat: float) -> float:
        out = [translate_image(model, img, "degrade", image_generator(seed, p.name, model.device), heat, tile)
               for p, img in zip(sources, images)]
        found = nlf_distance(estimate_nlf(out), target)
        return math.inf if math.isnan(found) else found  # no bin measurable in both: not a candidate

    ratio = (5 ** 0.5 - 1) / 2
    lo, hi = bounds
    a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fa, fb = distance(a), distance(b)
    for _ in range(steps):
        if fa <= fb:
            hi, b, fb = b, a, fa
            a = hi - ratio * (hi - lo)
            fa = distance(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + ratio * (hi - lo)
            fb = distance(b)
    heat, found = (a, fa) if fa <= fb else (b, fb)
    if math.isinf(found):
        raise UserError(f"--heat auto: no noise-level function could be compared between the translations and "
                        f"the images of {real_dir} (too few flat regions); give a fixed --heat")
    return heat, found


def prepare(args: argparse.Namespace, procs: Processes) -> tuple:
    """What every image needs, checked and decided before any of them: (model, inputs, names, tile, floor);
    args.heat becomes a number."""
    if not args.opt and not args.model_path:
        raise UserError("give --model_path CKPT or -opt CONF (with path.pretrain_network_g), or both")
    for flag, used in (("--heat auto", args.heat == "auto"), ("--noise-floor", args.noise_floor)):
        if used and (args.real is None or args.mode != "degrade"):
            raise UserError(f"{flag} calibrates the degrade mode against real images: give --real DIR")
    if args.keep_colour is not None and (not args.keep_colour > 0 or args.mode != "degrade"):
        raise UserError(f"--keep-colour {args.keep_colour}: give a positive sigma in pixels, with --mode degrade")
    if args.heat != "auto":
        try:
            args.heat = float(args.heat)
        except ValueError:
            raise UserError(f"--heat {args.heat}: expected a number or 'auto'") from None
    tile = tile_option(args.tile, OVERLAP)
    model = load_for_inference(args.model_path, args.opt, procs.device(args.device), expected_type="DeFlowModel")
    inputs = listed_inputs(args.source_dir, args.list, "--source_dir")
    names = output_names(inputs, args.list)
    sources = [args.source_dir / path for path in inputs]
    if args.heat == "auto":
        args.heat, distance = calibrate_heat(model, sources, args.real, args.seed, tile)
        if procs.rank == 0:
            print(f"--heat auto: {args.heat:.3f} (noise-level function {distance:.2f} from --real's, 8-bit units)")
    floor = noise_floor_line(sources, args.real) if args.noise_floor else None
    if floor is not None and procs.rank == 0:
        print("--noise-floor: noise variance (8-bit^2) at least " +
              "  ".join(f"{c} {a:.1f} x + {b:.1f}" for c, (a, b) in zip("RGB", floor.tolist())))
    return model, inputs, names, tile, floor


@user_errors_exit_2
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-opt", "--opt", help="config: model_type, scale and network_g are enough (default: the "
                        "options stored in the checkpoint); weights from path.pretrain_network_g")
    parser.add_argument("--model_path", "-model_path",
                        help="DeFlow checkpoint (default: -opt's path.pretrain_network_g)")
    parser.add_argument("--source_dir", "-source_dir", required=True, type=Path)
    parser.add_argument("--list", type=Path, help="the images to translate, one path relative to --source_dir a "
                                                  "line (default: every image directly in --source_dir)")
    parser.add_argument("--out_dir", "-out_dir", required=True, type=Path)
    parser.add_argument("--mode", choices=MODES, default="degrade")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--heat", default="1.0", help="scale of the sampled latent shift (degrade mode); 'auto': the "
                                                     "heat whose output's noise-level function is closest to --real's")
    parser.add_argument("--noise-floor", nargs="?", const="white", choices=FLOORS,
                        help="degrade mode: raise the translations' local noise to the noise-level function --real's "
                             "images show where it falls short; white (the default): add independent Gaussian noise; "
                             "scaled: amplify the flow's own noise there first, white noise for the rest")
    parser.add_argument("--keep-colour", type=float, metavar="SIGMA",
                        help="degrade mode: keep the source's colours at scales coarser than a Gaussian of std SIGMA "
                             "px (the flow's low-frequency change is taken out; its noise and texture stay)")
    parser.add_argument("--real", type=Path, help="real degraded images, the reference of --heat auto and "
                                                  "--noise-floor")
    parser.add_argument("--tile", type=int, default=256, help="tile side in pixels; 0 = whole images")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda[:N] (under torchrun: each process's "
                                                         "LOCAL_RANK GPU)")
    args = parser.parse_args(argv)
    with torch.no_grad(), Processes() as procs:
        model, inputs, names, tile, floor = procs.run(lambda: prepare(args, procs))
        settings = {"command": "translate", "source_dir": str(args.source_dir.absolute()), "mode": args.mode,
                    "seed": args.seed, "heat": args.heat, "tile": tile, "overlap": OVERLAP,
                    "floor": None if floor is None else floor.tolist(), "floor_mode": args.noise_floor,
                    "keep_colour": args.keep_colour}

        def make(index: int, files: Path) -> dict:
            translate_file(model, args.source_dir, inputs[index], files, args.mode, args.seed, args.heat, tile,
                           floor=floor, floor_mode=args.noise_floor, keep_colour=args.keep_colour)
            return {}
        run_sharded(procs, args.out_dir, "--out_dir", (args.source_dir,), digest(settings, model), names, make,
                    desc=args.mode)
        if procs.rank == 0:
            print(f"{len(names)} images in {args.out_dir}")


if __name__ == "__main__":
    main()
