"""Run an SR model over a folder of low-resolution images; score and report when GT is given.

    python scripts/test_sr.py (-opt CONF | --model_path CKPT) --input LR_DIR [--gt GT_DIR] --out DIR
        [--metrics rwsr_rgb] [--crop-border N] [--tile 256] [--require-lpips] [--lpips-backbone FILE] [--device auto]
        [--compare LABEL=DIR ...]

-opt alone is enough for a model whose networks have no weights (a classical pipeline) or whose config names them
(path.pretrain_network_g). A multi-frame model takes a folder of bursts: LR_DIR/<name>/ holds the frames of one burst
(sorted by file name, all of one size) and GT_DIR/<name>.png its ground truth.

Writes DIR/sr/<name>.png, and with GT: DIR/metrics.csv, DIR/metrics.json (per image and mean, preset named) and
DIR/report.html (table worst-first, PSNR/SSIM plot, LR | bicubic | SR | GT with a zoomed crop; without GT, LR |
bicubic | SR). --compare shows other SR results of the same images beside them, e.g. --compare "stage 1=runs/psnr"
(DIR holds <name>.png, or is another test_sr output folder with sr/<name>.png).

`--list FILE` names the inputs (one path relative to LR_DIR a line, in the order of the tables) instead of the
folder's listing; the GT of a listed input is the image of the same relative path and name, any suffix, under GT_DIR.

Under `torchrun --nproc_per_node=N` the images are shared out among the processes, and on several machines with
torchrun's rendezvous (deflow/shards.py); rank 0 writes the metrics and the report from every image's scores, so
they equal one process's. Every input is checked (names, sizes, the crop border) before any work, and the outputs
appear in DIR only when the run succeeds: a run that fails leaves an earlier run's outputs and report as they were,
and the same command run again skips the images the failed or killed run finished.
"""
import argparse
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from deflow.errors import UserError, user_errors_exit_2
from deflow.imageio import IMAGE_SUFFIXES, image_size, list_images, read_image, write_image
from deflow.models.loading import load_for_inference
from deflow.shards import Processes, digest, listed_inputs, output_names, run_sharded
from deflow.tiling import apply_tiled, tile_option
from degradations.resize import imresize
from metrics.cli import match_by_stem, score_file
from metrics.lpips_metric import load_lpips
from metrics.presets import PRESETS, Preset, resolve_preset
from metrics.report import METRIC_KEYS, format_table, rows_from_scores, write_csv, write_html_report, write_json

OVERLAP = 16  # LR px shared by neighbouring tiles


def sr_image(model, image: torch.Tensor, tile: int | None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(C, h, w) -> (3, h * scale, w * scale) through `model.infer`, tiled (deflow.tiling.apply_tiled)."""
    return apply_tiled(model.infer, image[None], tile, OVERLAP, model.scale, model.device, dtype=dtype)[0]


def check_gt_sizes(pairs: list[tuple[Path, Path]], scale: int, crop_border: int) -> None:
    """Every GT is exactly `scale` times its LR image and larger than twice the crop border (checked from the file
    headers, before any work)."""
    for lr_path, gt_path in pairs:
        (lh, lw), (gh, gw) = image_size(lr_path), image_size(gt_path)
        if (gh, gw) != (lh * scale, lw * scale):
            raise UserError(f"{gt_path} is {gw}x{gh} but {lr_path} is {lw}x{lh}: "
                            f"GT must be exactly {scale}x the LR image (the model's scale)")
        if min(gh, gw) <= 2 * crop_border:
            raise UserError(f"{gt_path} is {gw}x{gh}: --crop-border {crop_border} leaves nothing of it to score; "
                            "lower --crop-border or remove the image")


def list_bursts(input_dir: Path) -> list[Path]:
    """The burst folders of `input_dir` (each holding the frames of one burst), sorted by name."""
    if not input_dir.is_dir():
        raise UserError(f"{input_dir}: folder not found; check the path")
    bursts = sorted(p for p in input_dir.iterdir() if p.is_dir())
    if not bursts:
        raise UserError(f"{input_dir}: no burst folders; a multi-frame model takes one folder of frames per burst")
    return bursts


def read_burst(folder: Path) -> torch.Tensor:
    """(T, 3, H, W): the frames of one burst, in file-name order."""
    paths = list_images(folder)
    frames = [read_image(path) for path in paths]
    for path, frame in zip(paths, frames):
        if frame.shape != frames[0].shape:
            raise UserError(f"{path}: is {frame.shape[2]}x{frame.shape[1]} but {paths[0].name} is "
                            f"{frames[0].shape[2]}x{frames[0].shape[1]}; the frames of a burst must all have one size")
    return torch.stack(frames)


def parse_compare(items: list[str]) -> dict[str, Path]:
    """["LABEL=DIR", ...] -> {label: folder of SR images}; a test_sr output folder stands for its sr/."""
    folders = {}
    for item in items:
        label, sep, folder = item.partition("=")
        if not sep or not label or not folder:
            raise UserError(f"--compare {item}: expected LABEL=DIR, e.g. 'stage 1=runs/psnr_eval'")
        if label.lower() in ("lr", "sr", "gt", "bicubic") or label in folders:
            raise UserError(f"--compare {item}: the label {label!r} is taken; choose another")
        folder = Path(folder)
        folders[label] = folder / "sr" if (folder / "sr").is_dir() else folder
        if not folders[label].is_dir():
            raise UserError(f"--compare {item}: folder {folder} not found")
    return folders


def compared(folders: dict[str, Path], shown: dict[str, Path], scale: int) -> dict[str, dict[str, Path]]:
    """{name: {label: that folder's SR image of `name`}} for every input (`shown`: name -> its LR image), each checked
    to be `scale` times the LR, before any work."""
    found = {label: {p.stem: p for p in list_images(folder)} for label, folder in folders.items()}
    images = {}
    for name, lr_path in shown.items():
        lh, lw = image_size(lr_path)
        images[name] = {}
        for label, paths in found.items():
            path = paths.get(name)
            if path is None:
                raise UserError(f"--compare {label}={folders[label]}: no image named {name}; compare SR results of "
                                "the same inputs")
            if image_size(path) != (lh * scale, lw * scale):
                raise UserError(f"--compare {label}: {path} is {image_size(path)[1]}x{image_size(path)[0]}, not "
                                f"{scale}x {lr_path}; compare results of the same scale")
            images[name][label] = path
    return images


def listed_gt(gt_dir: Path, relative: Path, burst: bool) -> Path | None:
    """The GT of a listed input: gt_dir/relative, else its name with another image suffix; None if none is there."""
    stem = relative.name if burst else relative.stem
    for suffix in ("" if burst else relative.suffix, *IMAGE_SUFFIXES):
        path = gt_dir / relative.parent / f"{stem}{suffix}"
        if path.is_file():
            return path
    return None


def pair_inputs(input_dir: Path, gt_dir: Path | None, list_file: Path | None, burst: bool) -> list[tuple]:
    """(input relative to input_dir, its GT or None) for every input, in the order of the tables."""
    if gt_dir is not None and not burst and list_file is None:
        return [(Path(lr.name), gt) for lr, gt in match_by_stem(input_dir, gt_dir, ("--input", "--gt"))]
    inputs = listed_inputs(input_dir, list_file, "--input", list_bursts if burst else list_images)
    if gt_dir is None:
        return [(path, None) for path in inputs]
    if list_file is None:
        gts = {path.stem: path for path in list_images(gt_dir)}
        pairs = [(path, gts.get(path.name)) for path in inputs]
    elif not gt_dir.is_dir():
        raise UserError(f"{gt_dir}: folder not found; check the path")
    else:
        pairs = [(path, listed_gt(gt_dir, path, burst)) for path in inputs]
    missing = [path for path, gt in pairs if gt is None]
    if missing:
        name = missing[0].as_posix() if burst else missing[0].with_suffix("").as_posix()
        raise UserError(f"{gt_dir}: no GT image for {'burst ' if burst else ''}{missing[0]}; name it {name}.png")
    return pairs


@dataclass
class Evaluation:
    """One test_sr run, checked: every input (relative to input_dir) with its GT, the scoring, the compared
    images (rank 0's, which writes the report)."""
    model: object
    input_dir: Path
    pairs: list[tuple[Path, Path | None]]
    names: list[str]
    shown: dict[str, Path]
    preset: Preset
    lpips: object
    others: dict[str, dict[str, Path]]
    tile: int | None

    def make(self, index: int, out_dir: Path) -> dict:
        """SR of input `index` into out_dir/sr; returns its row (scored with GT)."""
        model, (relative, gt_path), name = self.model, self.pairs[index], self.names[index]
        gt = read_image(gt_path) if gt_path is not None else None
        # 8-bit as the file stores it (a quarter of float32's memory), unless the preset scores floats
        dtype = torch.uint8 if self.preset.quantize else torch.float32
        if model.INFER_INPUT == "burst":  # tiles cut through every frame at once: the frames travel as channels
            frames = read_burst(self.input_dir / relative)

            def run(x: torch.Tensor, count: int = frames.shape[0]) -> torch.Tensor:
                return model.infer(x.unflatten(1, (count, 3)))
            sr = apply_tiled(run, frames.flatten(0, 1)[None], self.tile, OVERLAP, model.scale, model.device,
                             dtype=dtype)[0]
        else:
            sr = sr_image(model, read_image(self.input_dir / relative), self.tile, dtype)
        write_image(out_dir / "sr" / f"{name}.png", sr)
        if gt is None:
            return {"name": name} | dict.fromkeys(METRIC_KEYS)
        sr = sr.float() / 255 if sr.dtype == torch.uint8 else sr
        return rows_from_scores([name], score_file(gt_path, sr.to(model.device), gt.to(model.device), self.preset,
                                                   self.lpips))[0]

    def report(self, rows: list[dict], out_dir: Path) -> None:
        """metrics.csv, metrics.json (with GT) and report.html of every image's row, into out_dir."""
        scale, scored = self.model.scale, any(gt is not None for _, gt in self.pairs)
        images = {name: {"lr": self.shown[name],
                         "bicubic": imresize(read_image(self.shown[name])[None], scale=scale)[0].clamp(0, 1),
                         **self.others[name], "sr": out_dir / "sr" / f"{name}.png", **({"gt": gt} if gt else {})}
                  for name, (_, gt) in zip(self.names, self.pairs)}
        note = self.lpips.reason if self.lpips is not None and not self.lpips.available else None
        if scored:
            if note:
                print(f"LPIPS unavailable: {note}", file=sys.stderr)
            write_csv(out_dir / "metrics.csv", rows, self.preset)
            write_json(out_dir / "metrics.json", rows, self.preset, lpips_note=note)
            print(format_table(rows, self.preset))
        write_html_report(out_dir, rows, self.preset, images, lpips_note=note,
                          title=f"SR x{scale}: {self.input_dir.name}" + ("" if scored else " (no GT)"))


def prepare(args: argparse.Namespace, procs: Processes) -> Evaluation:
    """Every input checked before any work (each rank the GT sizes of the images it would make, rank 0 the compared
    folders); the model and the scoring set up."""
    if not args.opt and not args.model_path:
        raise UserError("give -opt CONF or --model_path CKPT (or both)")
    compare = parse_compare(args.compare)
    tile = tile_option(args.tile, OVERLAP)
    model = load_for_inference(args.model_path, args.opt, procs.device(args.device))
    if model.INFER_INPUT is None:
        raise UserError(f"{args.model_path or args.opt}: a {type(model).__name__} is not an SR model")
    burst = model.INFER_INPUT == "burst"
    pairs = pair_inputs(args.input, args.gt, args.list, burst)
    names = output_names([path for path, _ in pairs], args.list, folders=burst)
    shown = {name: list_images(args.input / path)[0] if burst else args.input / path
             for name, (path, _) in zip(names, pairs)}
    preset = resolve_preset(args.metrics, args.crop_border, model.scale)
    if args.gt is not None:
        check_gt_sizes([(shown[names[i]], pairs[i][1]) for i in range(procs.rank, len(pairs), procs.world)],
                       model.scale, preset.crop_border)
    lpips = None
    if args.gt is not None and preset.lpips_net is not None:
        lpips = load_lpips(preset.lpips_net, args.lpips_backbone, require=args.require_lpips, device=model.device)
    others = compared(compare, shown, model.scale) if procs.rank == 0 else {}
    return Evaluation(model, args.input, pairs, names, shown, preset, lpips, others, tile)


@user_errors_exit_2
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-opt", "--opt", help="config; weights from its path.pretrain_network_g unless --model_path")
    parser.add_argument("--model_path", help="checkpoint (deflow, or BasicSR {params, params_ema} with -opt)")
    parser.add_argument("--input", required=True, type=Path,
                        help="folder of LR images (of burst folders for a multi-frame model)")
    parser.add_argument("--list", type=Path, help="the inputs, one path relative to --input a line (default: every "
                                                  "image, or burst folder, directly in --input)")
    parser.add_argument("--gt", type=Path, help="folder of GT images, same names (optional)")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--metrics", default="rwsr_rgb", choices=list(PRESETS), help="metric preset")
    parser.add_argument("--crop-border", type=int, default=None, help="default: the preset's, else the scale")
    parser.add_argument("--tile", type=int, default=256, help="LR tile side; 0 = whole images")
    parser.add_argument("--require-lpips", action="store_true")
    parser.add_argument("--lpips-backbone", help="torchvision AlexNet/VGG weights for LPIPS")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda[:N] (under torchrun: each process's "
                                                         "LOCAL_RANK GPU)")
    parser.add_argument("--compare", nargs="+", default=[], metavar="LABEL=DIR",
                        help="other SR results of the same inputs, shown beside this one in the report")
    args = parser.parse_args(argv)
    with torch.no_grad(), Processes() as procs:
        job = procs.run(lambda: prepare(args, procs))
        settings = {"command": "test_sr", "input": str(args.input.absolute()), "tile": job.tile,
                    "gt": None if args.gt is None else str(args.gt.absolute()), "preset": asdict(job.preset),
                    "lpips": None if job.lpips is None else [args.lpips_backbone, job.lpips.available]}
        run_sharded(procs, args.out, "--out", (args.input, args.gt), digest(settings, job.model), job.names,
                    job.make, job.report, desc="SR")
        if procs.rank == 0:
            print(f"SR images in {args.out / 'sr'}; report {args.out / 'report.html'}")


if __name__ == "__main__":
    main()
