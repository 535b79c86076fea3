"""Multi-frame SR of a folder of frames of one scene (or of several scenes, one subfolder each).

    python scripts/burst_sr.py --frames DIR --out DIR --method saa|ibp|btv|hybrid [--scale 2]
        [--model_path CKPT (hybrid)] [--registration phase|ecc|dis] [--min-confidence 0.5] [--max-frames N]
        [--device auto]

The first frame (by file name) is the reference: the output lies on its pixel grid, `scale` times finer. Writes
DIR/<scene>.png, DIR/<scene>_confidence.png (samples per HR pixel, white = the count expected from the frames used)
and DIR/registration.json (per frame: confidence, kept or rejected). Frames of different sizes, an unreadable frame
or a missing folder end in one line `error: ...`, exit status 2; outputs appear only when the run succeeds.
"""
import argparse
import json
from pathlib import Path

import torch

from deflow.config import resolve_options
from deflow.devices import pick_device
from deflow.errors import UserError, user_errors_exit_2
from deflow.imageio import IMAGE_SUFFIXES, write_image
from deflow.models.loading import load_for_inference
from deflow.outputs import staged_folder
from deflow.registry import MODELS, load_plugins
from deflow.tools.test_sr import list_bursts, read_burst

FUSIONS = {"saa": "ShiftAndAdd", "ibp": "BackProjection", "btv": "BTVL1"}


def scenes(folder: Path) -> list[Path]:
    """`folder` itself when it holds frames, else its subfolders (one scene each)."""
    if folder.is_dir() and any(p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES for p in folder.iterdir()):
        return [folder]
    return list_bursts(folder)


def build_model(method: str, scale: int, registration: str, min_confidence: float, model_path: str | None,
                device: str):
    """The BurstFusionModel of a classical `method`, or the trained BurstHybridModel of `model_path`."""
    if method == "hybrid":
        if model_path is None:
            raise UserError("--method hybrid needs --model_path CKPT (python -m deflow.train -opt "
                            "confs/cpu/burst-hybrid-x2.yml trains one)")
        model = load_for_inference(model_path, None, device, expected_type="BurstHybridModel")
        if model.scale != scale:
            raise UserError(f"--scale {scale}: {model_path} is a x{model.scale} model; pass --scale {model.scale}")
        net = model.nets["f"]
    else:
        if model_path is not None:
            raise UserError(f"--model_path: --method {method} has no weights; leave it out (or use --method hybrid)")
        load_plugins()
        opt = resolve_options({"model_type": "BurstFusionModel", "scale": scale,
                               "network_g": {"type": FUSIONS[method]}}, training=False)
        model = MODELS.get("BurstFusionModel")(opt, pick_device(device))
        model.train(False)
        net = model.nets["g"]
    net.registration, net.min_confidence = registration, min_confidence
    return model


@user_errors_exit_2
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", required=True, type=Path, help="folder of the frames of one scene, or of scenes")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--method", required=True, choices=[*FUSIONS, "hybrid"])
    parser.add_argument("--scale", type=int, default=2)
    parser.add_argument("--model_path", help="BurstHybridModel checkpoint (--method hybrid)")
    parser.add_argument("--registration", default="ecc", choices=["phase", "ecc", "dis"])
    parser.add_argument("--min-confidence", type=float, default=0.5,
                        help="drop frames below this fraction of the best frame's registration confidence")
    parser.add_argument("--max-frames", type=int, default=None, help="use the first N frames of each scene")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    if args.scale < 1:
        raise UserError(f"--scale {args.scale}: must be at least 1")
    if args.max_frames is not None and args.max_frames < 1:
        raise UserError(f"--max-frames {args.max_frames}: must be at least 1")
    folders = scenes(args.frames)
    bursts = {folder.name: read_burst(folder)[:args.max_frames] for folder in folders}  # every frame checked first
    model = build_model(args.method, args.scale, args.registration, args.min_confidence, args.model_path, args.device)
    report = {}
    with torch.no_grad(), staged_folder(args.out, "--out", (args.frames, *folders)) as stage:
        for name, frames in bursts.items():
            batch = frames[None].to(model.device)
            image, fused = model.restore(batch)
            write_image(stage / f"{name}.png", image[0])
            expected = float(fused["keep"].sum()) / args.scale ** 2
            write_image(stage / f"{name}_confidence.png", (fused["count"][0] / max(expected, 1e-6)).clamp(0, 1))
            names = [p.name for p in sorted(folders[[f.name for f in folders].index(name)].iterdir())
                     if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES][:frames.shape[0]]
            report[name] = {"method": args.method, "scale": args.scale, "registration": args.registration,
                            "frames": [{"file": file, "confidence": round(float(c), 4), "kept": bool(k)} for file, c, k
                                       in zip(names, fused["confidence"][0], fused["keep"][0])]}
            kept = int(fused["keep"].sum())
            print(f"{name}: {kept} of {frames.shape[0]} frames fused -> {args.out / (name + '.png')}")
        (stage / "registration.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    main()
