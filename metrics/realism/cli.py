"""`python -m metrics.realism --real DIR --synthetic DIR [--synthetic DIR ...] [--clean DIR] --out DIR`: how close
is each folder of synthetic degraded images to a folder of real ones?

Per synthetic set: the C2ST accuracy against the real set (0.5: indistinguishable), the distance between the
noise-level functions of the two (estimated without pairs), the distance between their residual power spectra, and,
with --clean (the clean images that both the real and the synthetic ones degrade, matched by file name), the AKLD.
Writes OUT/realism.json and OUT/realism.html with the figures, only when every input was read and scored
(deflow/outputs.py). Mistakes print one `error: ...` line and exit 2.
"""
import argparse
import json
import math
from pathlib import Path

import torch

from deflow.errors import UserError, user_errors_exit_2
from deflow.imageio import list_images, read_image
from deflow.outputs import staged_folder
from metrics.realism.akld import akld
from metrics.realism.c2st import c2st_accuracy, sample_patches
from metrics.realism.nlf import estimate_nlf, fit_variance_line, nlf_distance
from metrics.realism.page import write_realism_page
from metrics.realism.spectrum import residual_spectrum, spectrum_distance

NLF_BINS = 16
SPECTRUM_BINS = 32
SCORE_KEYS = ("c2st_accuracy", "nlf_distance_8bit", "spectrum_distance_log10", "akld")
REAL_SEED, SYNTHETIC_SEED, C2ST_SEED = 1, 0, 0  # patch draws and classifier: the same for every set


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m metrics.realism",
                                     description="Score folders of synthetic degraded images against real ones: "
                                                 "C2ST, noise-level function, residual spectrum, AKLD (--clean).")
    folder = {"type": Path, "metavar": "DIR"}
    parser.add_argument("--real", required=True, help="folder of real degraded images", **folder)
    parser.add_argument("--synthetic", action="extend", nargs="+", required=True,
                        help="folders of synthetic degraded images (one set each; the flag may repeat)", **folder)
    parser.add_argument("--clean", help="folder of the clean images behind both (same names): adds AKLD", **folder)
    parser.add_argument("--out", required=True, help="output folder for realism.json and realism.html", **folder)
    parser.add_argument("--patches", type=int, metavar="N", default=1024, help="C2ST patches per side (1024)")
    parser.add_argument("--patch-size", type=int, metavar="N", default=32, help="C2ST patch side in px (32)")
    parser.add_argument("--steps", type=int, metavar="N", default=200, help="C2ST training steps (200)")
    return parser.parse_args(argv)


def read_folder(folder: Path, flag: str, patch_size: int) -> dict[str, torch.Tensor]:
    """{file stem: (3, H, W) image} of `folder`, each at least patch_size px on both sides."""
    images = {}
    for path in list_images(folder):
        if path.stem in images:
            raise UserError(f"{flag} {folder}: two images named {path.stem!r}; keep one")
        img = read_image(path)
        if min(img.shape[-2:]) < patch_size:
            raise UserError(f"{path} is {img.shape[2]}x{img.shape[1]}, smaller than the C2ST patch "
                            f"({patch_size} px); pass a smaller --patch-size or larger images")
        images[path.stem] = img
    return images


def check_pairs(clean: dict, clean_dir: Path, images: dict, folder: Path, flag: str) -> None:
    """Same file stems and image sizes as --clean, else one UserError naming the first file that differs."""
    fix = "with --clean, --real and every --synthetic must hold the same file names (any extension)"
    for stem in sorted(images.keys() ^ clean.keys()):
        where, other = (f"{flag} {folder}", f"--clean {clean_dir}") if stem in images else \
            (f"--clean {clean_dir}", f"{flag} {folder}")
        raise UserError(f"{where} has an image named {stem!r} that {other} lacks; {fix}")
    for stem in sorted(images):
        if images[stem].shape != clean[stem].shape:
            (h, w), (ch, cw) = images[stem].shape[-2:], clean[stem].shape[-2:]
            raise UserError(f"{flag} {folder}: {stem!r} is {w}x{h} but its clean image is {cw}x{ch}; "
                            "paired images must have the same size")


def as_json(value):
    """Tensors -> nested lists, NaN and inf -> null."""
    if isinstance(value, torch.Tensor):
        value = value.tolist()
    if isinstance(value, list):
        return [as_json(v) for v in value]
    return None if isinstance(value, float) and not math.isfinite(value) else value


def curves(nlf, spectrum: tuple) -> dict:
    """A set's noise-level function (estimate_nlf) and residual spectrum as JSON-ready lists."""
    levels = nlf.mean_intensity if nlf.mean_intensity is not None else nlf.intensity.expand_as(nlf.std)
    return {"nlf": {"intensity": as_json(nlf.intensity), "std_8bit": as_json(nlf.std), "count": as_json(nlf.count),
                    "mean_intensity": as_json(levels), "variance_line_a_b": as_json(fit_variance_line(nlf))},
            "spectrum": {"frequency": as_json(spectrum[0]), "power_8bit2": as_json(spectrum[1])}}


def set_names(folders: list[Path]) -> list[str]:
    """The shortest trailing part of each folder's path that tells it from the others (`white_noise/seed0`)."""
    parts = [folder.resolve().parts for folder in folders]
    names = []
    for mine in parts:
        depth = 1
        while depth < len(mine) and sum(p[-depth:] == mine[-depth:] for p in parts) > 1:
            depth += 1
        names.append("/".join(mine[-depth:]))
    return names


def read_inputs(args: argparse.Namespace) -> tuple[dict, dict[str, dict], dict | None]:
    """(real, {set name: synthetic}, clean or None), each {file stem: image}, with every check done."""
    for flag, value in (("--patches", args.patches), ("--patch-size", args.patch_size), ("--steps", args.steps)):
        if value < 1:
            raise UserError(f"{flag} must be positive, got {value}")
    real = read_folder(args.real, "--real", args.patch_size)
    clean = read_folder(args.clean, "--clean", args.patch_size) if args.clean else None
    synthetic = {name: read_folder(folder, "--synthetic", args.patch_size)
                 for name, folder in zip(set_names(args.synthetic), args.synthetic)}
    if clean is not None:
        for flag, folder, images in [("--real", args.real, real), *zip(["--synthetic"] * len(synthetic),
                                                                      args.synthetic, synthetic.values())]:
            check_pairs(clean, args.clean, images, folder, flag)
    return real, synthetic, clean


def score_set(images: dict, real: dict, clean: dict | None, reference: dict, args: argparse.Namespace) -> dict:
    """One synthetic set's scores against the real set; `reference`: the real set's "nlf", "spectrum", "patches"."""
    nlf = estimate_nlf(list(images.values()), bins=NLF_BINS)
    spectrum = residual_spectrum(list(images.values()), SPECTRUM_BINS)
    patches = sample_patches(list(images.values()), args.patches, args.patch_size,
                             torch.Generator().manual_seed(SYNTHETIC_SEED))
    stems = sorted(images)
    scores = {"c2st_accuracy": c2st_accuracy(patches, reference["patches"], seed=C2ST_SEED, steps=args.steps),
              "nlf_distance_8bit": as_json(nlf_distance(nlf, reference["nlf"])),
              "spectrum_distance_log10": as_json(spectrum_distance(spectrum, reference["spectrum"])),
              "akld": None if clean is None else akld([images[s] for s in stems], [real[s] for s in stems],
                                                      [clean[s] for s in stems])}
    return scores | curves(nlf, spectrum)


@user_errors_exit_2
def main(argv=None) -> int:
    args = parse_args(argv)
    with staged_folder(args.out, "--out", (args.real, *args.synthetic, args.clean)) as stage:
        real, synthetic, clean = read_inputs(args)
        reference = {"nlf": estimate_nlf(list(real.values()), bins=NLF_BINS),
                     "spectrum": residual_spectrum(list(real.values()), SPECTRUM_BINS),
                     "patches": sample_patches(list(real.values()), args.patches, args.patch_size,
                                               torch.Generator().manual_seed(REAL_SEED))}
        sets = []
        for (name, images), folder in zip(synthetic.items(), args.synthetic):
            sets.append({"name": name, "folder": str(folder), "images": len(images),
                         **score_set(images, real, clean, reference, args)})
            print(f"{name}: " + "  ".join(f"{key} {'n/a' if sets[-1][key] is None else f'{sets[-1][key]:.4f}'}"
                                          for key in SCORE_KEYS))
        settings = {"real": str(args.real), "synthetic": [str(f) for f in args.synthetic],
                    "clean": None if clean is None else str(args.clean), "patches": args.patches,
                    "patch_size": args.patch_size, "steps": args.steps, "nlf_bins": NLF_BINS,
                    "spectrum_bins": SPECTRUM_BINS,
                    "seeds": {"real_patches": REAL_SEED, "synthetic_patches": SYNTHETIC_SEED, "c2st": C2ST_SEED}}
        result = {"settings": settings, "synthetic": sets,
                  "real": {"folder": str(args.real), "images": len(real),
                           **curves(reference["nlf"], reference["spectrum"])}}
        (stage / "realism.json").write_text(json.dumps(result, indent=2, allow_nan=False) + "\n")
        page = write_realism_page(stage, result, crops={"real": list(real.values()),
                                                        **{k: list(v.values()) for k, v in synthetic.items()}})
    print(f"wrote {args.out / 'realism.json'} and {args.out / page.name}")
    return 0
