"""Burst benchmark: classical multi-frame SR, single-frame SR and the hybrid on synthetic bursts of held-out photos.

    python scripts/bench_burst.py --out bench-burst [--hybrid-model CKPT] [--sr-model CKPT] [--frames 1 4 8 16]
        [--photos chelsea motorcycle_right] [--crops 2] [--size 160] [--seed 0]

Every crop gets one burst of max(--frames) frames (sr/multiframe/synth.py, the benchmark camera); a run with K
frames uses its first K, so the reference frame, and with it bicubic and single-frame SR, is the same for every K.
--sr-model is a single-image SR checkpoint (SRModel: confs/cpu/burst-single-x2.yml, or ESRGAN's stage 1);
--hybrid-model a BurstHybridModel checkpoint (confs/cpu/burst-hybrid-x2.yml). Writes OUT/results.json, OUT/results.md
(PSNR / SSIM under rwsr_rgb, seconds per burst, the registration error against the true motion, the corrupted-frame
check) and OUT/index.html with the table and OUT/report.html with the crops of every method side by side (8 frames).
"""
import argparse
import html
import json
import time
from pathlib import Path

import torch

from deflow.errors import UserError, user_errors_exit_2
from deflow.imageio import read_image
from deflow.models.loading import load_for_inference
from deflow.outputs import staged_folder
from deflow.tools.sample_photos import photo, photo_sources, source_name
from degradations.camera import Camera
from degradations.resize import imresize
from metrics.presets import resolve_preset, score
from metrics.report import PAGE_CSS, rows_from_scores, write_html_report
from sr.multiframe.cli import build_model
from sr.multiframe.geometry import positions_from_affine
from sr.multiframe.registration import register_burst
from sr.multiframe.synth import synthesize_burst

PRESET = "rwsr_rgb"


def crops_of(source: str, count: int, size: int) -> list[torch.Tensor]:
    """`count` crops of `size` px (plus the motion margin's room) spread along the photo's diagonal."""
    img = read_image(source) if Path(source).is_absolute() else photo(source)
    side = size + 24
    _, h, w = img.shape
    if min(h, w) < side:
        raise UserError(f"{source}: {w}x{h} is smaller than --size {size} plus 24 px of motion margin")
    spots = [((h - side) * (i + 1) // (count + 1), (w - side) * (i + 1) // (count + 1)) for i in range(count)]
    return [img[:, t:t + side, l:l + side].contiguous() for t, l in spots]


def run_bench(args) -> dict:
    torch.manual_seed(args.seed)
    camera = Camera()
    methods = {name: build_model(name, 2, "ecc", 0.5, None, "cpu") for name in ("saa", "ibp", "btv")}
    sr_model = load_for_inference(args.sr_model, None, "cpu") if args.sr_model else None
    hybrid = load_for_inference(args.hybrid_model, None, "cpu", expected_type="BurstHybridModel") \
        if args.hybrid_model else None
    longest = max(args.frames)
    results = {"scores": {}, "seconds": {}, "registration_error_px": [], "corrupted": {}}
    shown = {}

    def record(method: str, k: int | None, name: str, image: torch.Tensor, seconds: float, gt: torch.Tensor):
        key = method if k is None else f"{method}@{k}"
        s = score(image.clamp(0, 1), gt[None], PRESET, scale=2)
        results["scores"].setdefault(key, []).append({"name": name, "psnr": float(s["psnr"]), "ssim": float(s["ssim"])})
        results["seconds"].setdefault(key, []).append(seconds)
        if k in (None, 8):
            shown.setdefault(name, {})[method] = image[0]

    def timed(fn, *a):
        start = time.perf_counter()
        out = fn(*a)
        return out, time.perf_counter() - start

    for p, source in enumerate(photo_sources(args.photos)):
        for c, crop in enumerate(crops_of(source, args.crops, args.size)):
            name = f"{source_name(source)}_{c}"
            burst = synthesize_burst(crop, longest, camera, torch.Generator().manual_seed(1000 * args.seed + 10 * p + c))
            gt, ref = burst.gt, burst.frames[:1]
            shown[name] = {"lr": ref[0], "gt": gt}
            record("bicubic", None, name, *timed(lambda x: imresize(x, scale=2), ref), gt)
            if sr_model is not None:
                record("single-frame SR", None, name, *timed(sr_model.infer, ref), gt)
            reg = register_burst(burst.frames, "ecc")
            true = positions_from_affine(burst.motions, *burst.frames.shape[-2:])
            results["registration_error_px"].append(float((reg.positions - true).norm(dim=1)[1:, 4:-4, 4:-4].mean()))
            for k in args.frames:
                frames = burst.frames[:k][None]
                for method, model in methods.items():
                    record(method, k, name, *timed(model.infer, frames), gt)
                if hybrid is not None:
                    record("hybrid", k, name, *timed(hybrid.infer, frames), gt)
            if 8 <= longest:  # one frame of 8 replaced by noise: with and without rejection
                corrupted = burst.frames[:8].clone()
                corrupted[3] = torch.rand(corrupted[3].shape, generator=torch.Generator().manual_seed(p * 10 + c))
                for method in ("saa", "btv"):
                    net = methods[method].nets["g"]
                    for label, threshold in (("rejected", 0.5), ("kept", 0.0)):
                        net.min_confidence = threshold
                        s = score(methods[method].infer(corrupted[None]), gt[None], PRESET, scale=2)
                        results["corrupted"].setdefault(f"{method} noise frame {label}", []).append(float(s["psnr"]))
                    net.min_confidence = 0.5
    results["shown"] = shown
    return results


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


def table(results: dict) -> list[list[str]]:
    rows = []
    for key, scores in results["scores"].items():
        method, _, k = key.partition("@")
        rows.append([method, k or "1", f"{mean([s['psnr'] for s in scores]):.3f}",
                     f"{mean([s['ssim'] for s in scores]):.4f}", f"{mean(results['seconds'][key]):.3f}"])
    return rows


def write_outputs(out: Path, results: dict, args) -> str:
    header = ["method", "frames", "PSNR (dB)", "SSIM", "s / burst"]
    rows = table(results)
    n = len(next(iter(results["scores"].values())))
    reg = results["registration_error_px"]
    lines = [f"Synthetic bursts of {', '.join(args.photos)} ({n} crops of {args.size} px, x2, benchmark camera), "
             f"{resolve_preset(PRESET, None, 2).describe()}", "",
             "| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    lines += ["", f"ECC registration error against the true motion: mean {mean(reg):.4f} px, max {max(reg):.4f} px "
              f"(LR pixels, {max(args.frames) - 1} frames x {n} bursts)", ""]
    lines += [f"- {k}: {mean(v):.3f} dB" for k, v in results["corrupted"].items()]
    text = "\n".join(lines) + "\n"
    (out / "results.md").write_text(text)
    (out / "results.json").write_text(json.dumps({k: v for k, v in results.items() if k != "shown"}, indent=2) + "\n")
    best = "hybrid@8" if "hybrid@8" in results["scores"] else "btv@8"
    report_rows = [{"name": s["name"], "psnr": s["psnr"], "ssim": s["ssim"], "lpips": None, "haarpsi": None}
                   for s in results["scores"][best]]
    images = {}
    for name, entry in results["shown"].items():
        images[name] = {k: v for k, v in entry.items() if k not in (best.split("@")[0],)}
        images[name]["sr"] = entry[best.split("@")[0]]
    write_html_report(out, report_rows, PRESET, images, title=f"Burst SR x2: {best.replace('@', ' with ')} frames "
                      "(SR) beside every other method")
    cells = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    page = (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>Burst SR benchmark</title><style>{PAGE_CSS}'
            f'</style></head><body><h1>Burst SR benchmark</h1><pre>{html.escape(lines[0])}</pre><table><tr>'
            + "".join(f"<th>{h}</th>" for h in header) + f"</tr>{cells}</table><pre>{html.escape(chr(10).join(lines[len(rows) + 4:]))}"
            f'</pre><p><a href="report.html">crops of every method side by side</a></p></body></html>\n')
    (out / "index.html").write_text(page)
    return text


@user_errors_exit_2
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--photos", nargs="+", default=["chelsea", "motorcycle_right"],
                        help="held-out photos: skimage names, files or folders")
    parser.add_argument("--frames", nargs="+", type=int, default=[1, 4, 8, 16])
    parser.add_argument("--crops", type=int, default=2, help="crops per photo")
    parser.add_argument("--size", type=int, default=160, help="GT crop side, HR px")
    parser.add_argument("--hybrid-model", help="BurstHybridModel checkpoint")
    parser.add_argument("--sr-model", help="single-image SR checkpoint (SRModel or ESRGAN stage 1)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if min(args.frames) < 1 or args.crops < 1 or args.size < 16 or args.size % 2:
        raise UserError("--frames must be >= 1, --crops >= 1, --size an even number >= 16")
    torch.set_num_threads(1)
    results = run_bench(args)
    with staged_folder(args.out, "--out") as stage:
        text = write_outputs(stage, results, args)
    print(text + f"page: {args.out / 'index.html'}")


if __name__ == "__main__":
    main()
