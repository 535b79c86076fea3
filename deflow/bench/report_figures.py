"""The camera benchmark's figures, made at the end of its run from the images and logs in BENCH/runs/ into
BENCH/figures/, so that the findings report (make_report.py) needs BENCH's result files only, not its runs.

    bench_figures(...)     the three below for one benchmark folder; returns {figure: its path under BENCH}
    sr_crops(...)          test photos: the camera's LR, its bicubic interpolation, each method's SR, the GT
    lr_crops(...)          clean training photos: bicubic LR, DeFlow's translation, the camera's own LR
    training_curves(...)   every DeFlow training's NLL and the first seed's SR loss per method, from train.log

Crops come from files only (nothing is recomputed but the bicubic interpolation of a shown LR image); a missing file
is a UserError naming it and the command that makes it.
"""
import re
from pathlib import Path

import torch

from deflow.errors import UserError
from deflow.imageio import read_image
from degradations.resize import imresize
from metrics.realism.page import flat_crop

LR_CROP = 64   # LR px of the crops the figures show
TILE_IN = 1.6  # inches per tile
LOG_LINE = re.compile(r" iter (\d+)\s+(.*)$")
LOG_VALUE = re.compile(r"(\w+) ([-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?)")


def bench_figures(out: Path, split: dict, keys: dict[str, str], paired: list[str], budget, command: str
                  ) -> dict[str, str]:
    """OUT/figures/{sr_crops,lr_crops,training_curves}.png of the benchmark folder `out` from its runs/: the SR and
    LR crops of the methods in `keys` ({method: its folder key}; lr_crops where deflow is one), the NLL of every
    DeFlow training of the budget (methods.deflow_checkpoint's folder names) and the first seed's SR loss of the
    `paired` methods, all of the budget's first seed. Returns {figure: its path relative to `out`}."""
    runs, figures, seed = out / "runs", out / "figures", budget.seeds[0]
    figures.mkdir(parents=True, exist_ok=True)
    made = {"sr_crops": "figures/sr_crops.png"}
    sr_crops(runs, split["test"], list(keys.items()), seed, budget.sr_iters, command, out / made["sr_crops"])
    if "deflow" in keys:
        made["lr_crops"] = "figures/lr_crops.png"
        lr_crops(runs, split["clean"], keys["deflow"], seed, command, out / made["lr_crops"])
    trainings = re.compile(rf"(\w+_)?it{budget.deflow_iters}(_seed\d+)?")
    deflow_logs = {p.parent.name: p for p in sorted((runs / "deflow").glob("*/train.log"))
                   if trainings.fullmatch(p.parent.name)}
    sr_logs = {m: log for m in paired
               if (log := runs / "sr" / keys[m] / f"seed{seed}_it{budget.sr_iters}" / "train.log").is_file()}
    made["training_curves"] = "figures/training_curves.png"
    training_curves(deflow_logs, sr_logs, out / made["training_curves"])
    return made


def present(path: Path, command: str) -> Path:
    """`path`, a file the run of a result file wrote beside it; missing, that run is incomplete."""
    if not path.is_file():
        raise UserError(f"{path}: missing, so the run behind the report is incomplete; rerun `{command}`")
    return path


def load(path: Path, command: str) -> torch.Tensor:
    return read_image(present(path, command))


def centre(image: torch.Tensor, size: int) -> torch.Tensor:
    _, h, w = image.shape
    size = min(size, h, w)
    top, left = (h - size) // 2, (w - size) // 2
    return image[:, top:top + size, left:left + size]


def grid(rows: list[tuple[str, list[torch.Tensor]]], titles: list[str], path: Path) -> None:
    """A PNG of image tiles: one row per (label, tiles), one column per title, pixels shown unsmoothed."""
    from matplotlib.figure import Figure  # not pyplot: no GUI backend, no global state

    fig = Figure(figsize=(TILE_IN * len(titles), TILE_IN * len(rows) + 0.4))
    axes = fig.subplots(len(rows), len(titles), squeeze=False)
    for r, (label, tiles) in enumerate(rows):
        for c, tile in enumerate(tiles):
            ax = axes[r][c]
            ax.imshow(tile.clamp(0, 1).permute(1, 2, 0).numpy(), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(titles[c], fontsize=8)
        axes[r][0].set_ylabel(label, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def sr_crops(runs: Path, photos: list[str], methods: list[tuple[str, str]], seed: int, sr_iters: int,
             bench_command: str, path: Path) -> None:
    """Centre crops of each test photo: the camera's LR (enlarged), its bicubic x2, the SR of the network trained on
    each method's pairs (methods: [(name, its folder key)], SR seed `seed`) and the GT."""
    rows = []
    for name in photos:
        lr = load(runs / "lr/test" / f"{name}.png", bench_command)
        gt = load(runs / "photos/test" / f"{name}.png", bench_command)
        side = 2 * LR_CROP
        tiles = [centre(lr, LR_CROP).repeat_interleave(2, 1).repeat_interleave(2, 2),
                 centre(imresize(lr[None], scale=2)[0], side)]
        tiles += [centre(load(runs / "eval" / key / f"seed{seed}_it{sr_iters}" / "sr" / f"{name}.png", bench_command),
                         side) for _, key in methods]
        rows.append((name, tiles + [centre(gt, side)]))
    grid(rows, ["camera LR", "bicubic x2", *(f"SR: {m}" for m, _ in methods), "ground truth"], path)


def lr_crops(runs: Path, photos: list[str], deflow_key: str, seed: int, bench_command: str, path: Path) -> None:
    """Per clean training photo, its flattest crop and its centre crop in three LR versions: bicubic (the clean
    domain), DeFlow's translation (seed `seed`) and the camera's own LR of the same photo, which no method sees."""
    titles = ["bicubic LR", "DeFlow translation", "camera LR"]
    rows = []
    for name in photos:
        images = [load(runs / "lr/bicubic" / f"{name}.png", bench_command),
                  load(runs / "lr" / deflow_key / f"seed{seed}" / f"{name}.png", bench_command),
                  load(runs / "lr/camera_reference" / f"{name}.png", bench_command)]
        flat = flat_crop(torch.cat(images), LR_CROP)  # one place for all three: the flattest of their stack
        rows.append((f"{name}\nflattest", list(flat.split(3))))
        rows.append((f"{name}\ncentre", [centre(img, LR_CROP) for img in images]))
    grid(rows, titles, path)


def log_curves(log: Path) -> dict[str, tuple[list[int], list[float]]]:
    """{logged value: (iterations, values)} of a train.log's iteration lines, the learning rate left out."""
    curves: dict[str, tuple[list[int], list[float]]] = {}
    for line in log.read_text().splitlines():
        match = LOG_LINE.search(line)
        if match:
            for key, value in LOG_VALUE.findall(match.group(2)):
                if key != "lr":
                    curves.setdefault(key, ([], []))
                    curves[key][0].append(int(match.group(1)))
                    curves[key][1].append(float(value))
    return curves


def training_curves(deflow_logs: dict[str, Path], sr_logs: dict[str, Path], path: Path) -> None:
    """Two panels: the NLL of every DeFlow training, the pixel loss of each method's first SR training."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 4))
    axes = fig.subplots(1, 2)
    for ax, logs, key, title in ((axes[0], deflow_logs, "nll", "DeFlow trainings: NLL (bits per dimension)"),
                                 (axes[1], sr_logs, "l_pix", "SR trainings, first seed: pixel loss")):
        for label, log in logs.items():
            curve = log_curves(log).get(key)
            if curve:
                ax.plot(*curve, label=label, linewidth=1.2)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("iteration")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    axes[1].set_yscale("log")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
