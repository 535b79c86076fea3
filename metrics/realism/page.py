"""OUT/realism.html: the realism CLI's table and figures, read from the same dict it writes to realism.json.

Figures are PNG files beside the page: realism_nlf.png (noise std against intensity, one panel per channel, the
real set in black and each synthetic set in colour), realism_spectrum.png (residual power spectra, log axes) and,
when the images are given, crops_<n>.png (flat crops of each set, enlarged, real first).
"""
import html
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from deflow.imageio import write_image
from metrics.report import PAGE_CSS, figure

CROP, CROPS, ENLARGE = 48, 4, 3  # crop side (px), crops per set (one per image), pixel repetition

SCORES = (("c2st_accuracy", "C2ST accuracy", "{:.3f}"), ("nlf_distance_8bit", "NLF distance", "{:.2f}"),
          ("spectrum_distance_log10", "spectrum distance", "{:.3f}"), ("akld", "AKLD", "{:.4f}"))
MEANING = """<ul class="note">
<li><b>C2ST accuracy</b>: held-out accuracy of a small CNN trained to tell synthetic from real patches; 0.5 = it
cannot, 1.0 = always.</li>
<li><b>NLF distance</b>: RMS difference of the noise standard deviation (8-bit units) between the two
noise-level functions, over the intensity bins both estimate (no pairs needed).</li>
<li><b>spectrum distance</b>: mean |log10| ratio of the residual power spectra over frequency (0.3 = a factor 2);
it tells whether the noise is correlated across pixels as the real one is.</li>
<li><b>AKLD</b> (with --clean only): average KL divergence between the local noise variances of the synthetic and
the real version of each clean image (DANet, Yue et al. 2020); two draws of the same noise give about 0.04.</li>
</ul>"""
CHANNELS = ("red", "green", "blue")


def _curve(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def _sets(result: dict) -> list[tuple[str, dict, dict]]:
    """(label, curves, plot style) for the real set and each synthetic set."""
    rows = [("real", result["real"], {"color": "black", "linewidth": 2.2})]
    return rows + [(s["name"], s, {"color": f"C{i}", "linewidth": 1.4}) for i, s in enumerate(result["synthetic"])]


def plot_nlf(result: dict, path: Path) -> None:
    """Noise std (8-bit units) against intensity, one panel per channel."""
    from matplotlib.figure import Figure  # not pyplot: no GUI backend, no global state

    fig = Figure(figsize=(13, 3.8))
    axes = fig.subplots(1, 3, sharey=True)
    for label, curves, style in _sets(result):
        nlf = curves["nlf"]
        for channel, ax in enumerate(axes):
            ax.plot(_curve(nlf["mean_intensity"][channel]), _curve(nlf["std_8bit"][channel]), marker="o",
                    markersize=3, label=label, **style)
    for ax, name in zip(axes, CHANNELS):
        ax.set_title(f"{name} channel", fontsize=10)
        ax.set_xlabel("intensity (0-1)")
        ax.set_xlim(0, 1)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("noise std (8-bit units)")
    axes[-1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def plot_spectra(result: dict, path: Path) -> None:
    """Radially averaged power spectra of the high-pass residuals, log-log."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.5, 4.2))
    ax = fig.subplots()
    for label, curves, style in _sets(result):
        spectrum = curves["spectrum"]
        ax.loglog(spectrum["frequency"], _curve(spectrum["power_8bit2"]), label=label, **style)
    ticks = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5]
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.set_xticks([], minor=True)
    ax.set_xlabel("radial frequency (cycles/pixel)")
    ax.set_ylabel("residual power (8-bit units$^2$)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def flat_crop(image: torch.Tensor, size: int = CROP) -> torch.Tensor:
    """The `size` square of `image` (3, H, W) where the content varies least (variance of a 5x5 box blur; noise
    barely moves it), away from the clipped ends: where a viewer sees the noise itself."""
    size = min(size, *image.shape[-2:])
    smooth = F.avg_pool2d(image.mean(0, keepdim=True)[None], 5, stride=1, padding=2)[0, 0]
    mean = F.avg_pool2d(smooth[None, None], size, stride=4)[0, 0]
    spread = F.avg_pool2d(smooth[None, None] ** 2, size, stride=4)[0, 0] - mean ** 2
    spread = torch.where((mean > 0.08) & (mean < 0.92), spread, spread.max() + 1)
    top, left = divmod(int(spread.argmin()), spread.shape[1])
    return image[:, 4 * top:4 * top + size, 4 * left:4 * left + size]


def write_crops(out_dir: Path, crops: dict[str, list[torch.Tensor]]) -> list[tuple[str, str]]:
    """One PNG strip per set (its images' flat crops, enlarged) -> [(set name, file name)]."""
    strips = []
    for i, (name, images) in enumerate(crops.items()):
        tiles = [flat_crop(img) for img in images[:CROPS]]
        side = min(t.shape[-1] for t in tiles)
        gap = torch.ones(3, side, 4)
        strip = torch.cat([x for t in tiles for x in (t[:, :side, :side], gap)][:-1], dim=-1)
        write_image(out_dir / f"crops_{i}.png", strip.repeat_interleave(ENLARGE, 1).repeat_interleave(ENLARGE, 2))
        strips.append((name, f"crops_{i}.png"))
    return strips


def _sized(width: int, element: str) -> str:
    """`element` (a figure) no wider than its PNG's `width` pixels (report.py's figures fill the page width)."""
    return f'<div style="max-width:{width}px">{element}</div>'


def _table(result: dict) -> str:
    head = "".join(f"<th>{html.escape(title)}</th>" for _, title, _ in SCORES)
    rows = []
    for i, s in enumerate(result["synthetic"], 1):
        cells = "".join(f"<td>{'n/a' if s[key] is None else fmt.format(s[key])}</td>" for key, _, fmt in SCORES)
        rows.append(f"<tr><td>{i}</td><td>{html.escape(s['name'])}</td><td>{s['images']}</td>{cells}"
                    f"<td>{html.escape(s['folder'])}</td></tr>")
    return f"<table><tr><th>#</th><th>set</th><th>images</th>{head}<th>folder</th></tr>{''.join(rows)}</table>"


def write_realism_page(out_dir: str | Path, result: dict, title: str = "Realism of synthetic degradations",
                       crops: dict[str, list[torch.Tensor]] | None = None) -> Path:
    """out_dir/realism.html and its PNG figures from the realism CLI's result dict, with `crops` ({set name: its
    images}, the real set first) shown as flat crops side by side; returns the HTML path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    strips = "".join(_sized(1000, figure(file, f"{name}: flat {CROP} px crops, one per image, x{ENLARGE}"))
                     for name, file in write_crops(out_dir, crops or {}))
    plot_nlf(result, out_dir / "realism_nlf.png")
    plot_spectra(result, out_dir / "realism_spectrum.png")
    settings = result["settings"]
    described = (f"real: {html.escape(settings['real'])} ({result['real']['images']} images) · clean: "
                 f"{html.escape(settings['clean'] or 'none (no AKLD)')} · C2ST: {settings['patches']} patches of "
                 f"{settings['patch_size']} px per side, {settings['steps']} steps")
    page = (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{PAGE_CSS}</style></head><body><h1>{html.escape(title)}</h1>"
            f'<div class="preset">{described}</div>{_table(result)}{MEANING}'
            + (f"<h2>Crops</h2>{strips}" if strips else "")
            + "<h2>Noise-level functions</h2>"
            + _sized(1300, figure("realism_nlf.png", "noise std against intensity per channel, estimated from "
                                   "homogeneous regions (no pairs); gaps are bins with too few samples"))
            + "<h2>Spatial correlation</h2>"
            + _sized(650, figure("realism_spectrum.png", "radially averaged power spectrum of the residual after a "
                                  "3x3 box blur; less power at high frequencies = noise correlated across pixels"))
            + "</body></html>\n")
    path = out_dir / "realism.html"
    path.write_text(page)
    return path
