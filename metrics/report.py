"""Result writers: a text table, CSV, JSON and an HTML report with the images side by side.

A row is one image's result: {"name": str, "psnr": float, "ssim": float, "lpips": float | None}
(`rows_from_scores` builds them from `score`'s output); a metric is None where it was not scored
(LPIPS unavailable, or no GT at all). Every writer appends the mean row itself and
names the preset (pass the one from `resolve_preset`, so that the crop border is printed too).

`write_html_report(out_dir, rows, preset, images)` takes `images` as {row name: {"sr": IMG, "lr": IMG,
"gt": IMG, label: IMG, ...}} where IMG is an image file path or a float RGB (3, H, W) tensor in [0, 1]; "sr" is
required, "lr", "gt" and further labelled images (e.g. "bicubic", another model's SR) are optional, and rows without
an entry appear in the table only. They are shown LR, the labelled ones in their order, SR, GT. A file already inside
out_dir is referenced where it is; anything else is written as PNG to out_dir/report_files/.
"""
import base64
import csv
import html
import io
import json
import math
import re
from pathlib import Path
from urllib.parse import quote

import torch
import torch.nn.functional as F

from deflow.imageio import read_image, write_image
from metrics.presets import Preset, get_preset

METRIC_KEYS = ("psnr", "ssim", "lpips", "haarpsi")
_FORMATS = {"psnr": "{:.3f}", "ssim": "{:.4f}", "lpips": "{:.4f}", "haarpsi": "{:.4f}"}
_NAMES = {"psnr": "PSNR", "ssim": "SSIM", "lpips": "LPIPS", "haarpsi": "HaarPSI"}
ZOOM_SIZE = 96  # side of the zoomed region, in SR pixels
ZOOM_DISPLAY = 288  # side of the zoomed crops in the report, in screen pixels
ASSETS = "report_files"


def rows_from_scores(names: list[str], scores: dict[str, torch.Tensor]) -> list[dict]:
    """`score` output for a batch -> one row per image, in `names` order; LPIPS, HaarPSI None where not scored."""
    values = {k: v.tolist() for k, v in scores.items()}
    return [{"name": name} | {k: values[k][i] if k in values else None for k in METRIC_KEYS}
            for i, name in enumerate(names)]


def mean_row(rows: list[dict]) -> dict:
    """{"name": "mean", metric: mean over rows}; None for a metric missing from any row."""
    mean = {"name": "mean"}
    for key in METRIC_KEYS:
        values = [row.get(key) for row in rows]
        mean[key] = None if not rows or None in values else sum(values) / len(values)
    return mean


def _fmt(key: str, value) -> str:
    return "n/a" if value is None else _FORMATS[key].format(value)


def format_table(rows: list[dict], preset: str | Preset) -> str:
    """Plain-text table: the preset line, one line per image, then the mean."""
    width = max([len("image"), len("mean")] + [len(row["name"]) for row in rows])
    lines = [get_preset(preset).describe(),
             f"{'image':<{width}}  {'PSNR':>8}  {'SSIM':>7}  {'LPIPS':>7}  {'HaarPSI':>7}"]
    for row in rows + [mean_row(rows)]:
        lines.append(f"{row['name']:<{width}}  {_fmt('psnr', row['psnr']):>8}  {_fmt('ssim', row['ssim']):>7}  "
                     f"{_fmt('lpips', row['lpips']):>7}  {_fmt('haarpsi', row.get('haarpsi')):>7}")
    return "\n".join(lines)


def write_csv(path: str | Path, rows: list[dict], preset: str | Preset | None = None) -> None:
    """name, psnr, ssim, lpips, haarpsi per image and a final "mean" line; with `preset`, a preset column too."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    preset = None if preset is None else get_preset(preset)
    extra = {} if preset is None else {"preset": preset.name, "crop_border": preset.crop_border}
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["name", *METRIC_KEYS, *extra])
        writer.writeheader()
        for row in rows + [mean_row(rows)]:
            writer.writerow({k: ("" if row.get(k) is None else row[k]) for k in ("name", *METRIC_KEYS)} | extra)


def _json_number(value):
    return value if value is None or math.isfinite(value) else str(value)  # inf PSNR (identical images) -> "inf"


def write_json(path: str | Path, rows: list[dict], preset: str | Preset, lpips_note: str | None = None) -> None:
    """{"preset": {fields, "description"}, "lpips_unavailable": reason or null, "images": rows, "mean": row}."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean = [{k: (_json_number(v) if k in METRIC_KEYS else v) for k, v in row.items()}
             for row in rows + [mean_row(rows)]]
    data = {"preset": get_preset(preset).as_dict(), "lpips_unavailable": lpips_note,
            "images": clean[:-1], "mean": clean[-1]}
    path.write_text(json.dumps(data, indent=2) + "\n")


# ---------------------------------------------------------------- HTML report

def _load(img) -> torch.Tensor:
    """An `images` value (file path, or (3, H, W) / (1, 3, H, W) tensor) as a (3, H, W) CPU tensor."""
    if isinstance(img, (str, Path)):
        return read_image(img)
    return (img[0] if img.dim() == 4 else img).detach().float().cpu().clamp(0, 1)


def _zoom_region(sr: torch.Tensor, gt: torch.Tensor | None, border: int) -> tuple[int, int, int]:
    """(top, left, size) in SR pixels: the square of largest mean |SR - GT| inside the scored area (the
    crop `border` excluded), or the centre without GT."""
    h, w = sr.shape[-2:]
    if gt is None or gt.shape != sr.shape or 2 * border >= min(h, w):
        size = min(ZOOM_SIZE, h, w)
        return (h - size) // 2, (w - size) // 2, size
    error = (sr - gt).abs().mean(0)[border:h - border, border:w - border]
    size = min(ZOOM_SIZE, *error.shape)
    stride = max(1, size // 4)
    pooled = F.avg_pool2d(error[None, None], size, stride=stride)[0, 0]
    index = int(pooled.argmax())
    return border + (index // pooled.shape[1]) * stride, border + (index % pooled.shape[1]) * stride, size


def _zoomed(img: torch.Tensor, top: float, left: float, size: float) -> torch.Tensor:
    """The square crop (top, left, size), in the image's own pixels, enlarged by pixel repetition."""
    t, l, s = round(top), round(left), max(1, round(size))
    patch = img[:, t:t + s, l:l + s]
    factor = max(1, ZOOM_DISPLAY // s)
    return patch.repeat_interleave(factor, 1).repeat_interleave(factor, 2)


class _Assets:
    """Files of the report under out_dir, referenced by paths relative to it."""

    def __init__(self, out_dir: Path):
        self.out_dir = out_dir.resolve()
        (self.out_dir / ASSETS).mkdir(parents=True, exist_ok=True)

    def link(self, source, loaded: torch.Tensor, stem: str) -> str:
        """`source` itself if it is a file inside out_dir, else a PNG of `loaded` written there."""
        if isinstance(source, (str, Path)) and Path(source).resolve().is_relative_to(self.out_dir):
            return quote(Path(source).resolve().relative_to(self.out_dir).as_posix())
        return self.write(loaded, stem)

    def write(self, img: torch.Tensor, stem: str) -> str:
        write_image(self.out_dir / ASSETS / f"{stem}.png", img)
        return quote(f"{ASSETS}/{stem}.png")


def _plot_png(rows: list[dict]) -> str:
    """Per-image PSNR and SSIM bars (table order) with their means, as a base64 PNG."""
    from matplotlib.figure import Figure  # not pyplot: no GUI backend, no global state

    rows = [row for row in rows if row["psnr"] is not None]
    names = [row["name"] for row in rows]
    fig = Figure(figsize=(min(14, 7 + 0.3 * len(rows)), 4.6))
    axes = fig.subplots(2, 1, sharex=True)
    for ax, key, label, color in zip(axes, ("psnr", "ssim"), ("PSNR (dB)", "SSIM"), ("tab:blue", "tab:orange")):
        values = [row[key] for row in rows]
        finite = [v for v in values if math.isfinite(v)]
        ax.bar(range(len(values)), [v if math.isfinite(v) else float("nan") for v in values], color=color)
        if finite:
            mean = sum(finite) / len(finite)
            ax.axhline(mean, color="black", linewidth=1, linestyle="--")
            ax.set_title(f"{label.split()[0]}: mean {_fmt(key, mean)} (dashed)", loc="left", fontsize=9)
            low, high = min(finite), max(finite)
            pad = max((high - low) * 0.15, abs(high) * 0.01, 1e-3)
            ax.set_ylim(low - pad, high + pad)
        ax.set_ylabel(label)
        ax.grid(axis="y", alpha=0.3)
    axes[-1].set_xticks(range(len(names)))
    axes[-1].set_xticklabels(names if len(names) <= 40 else [""] * len(names), rotation=60, ha="right", fontsize=8)
    axes[-1].set_xlabel("images, worst PSNR first", fontsize=9)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def figure(src: str, caption: str, box: tuple[float, float, float, float] | None = None,
            pixelated: bool = False) -> str:
    """An <img> with its caption; `box` = (top, left, height, width) as fractions of the image, drawn on it."""
    style = ' class="pixelated"' if pixelated else ""
    frame = ""
    if box is not None:
        top, left, height, width = box
        frame = (f'<div class="box" style="top:{100 * top:.3f}%;left:{100 * left:.3f}%;'
                 f'height:{100 * height:.3f}%;width:{100 * width:.3f}%"></div>')
    return (f'<figure><div class="frame"><img src="{src}" loading="lazy"{style} alt="{html.escape(caption)}">{frame}'
            f'</div><figcaption>{html.escape(caption)}</figcaption></figure>')


def _image_section(index: int, row: dict, entry: dict, assets: _Assets, border: int) -> str:
    """The full images (LR, the labelled ones, SR, GT) with the zoom region framed, then their zoomed crops."""
    stem = f"{index:04d}_{re.sub(r'[^A-Za-z0-9._-]', '_', row['name'])}"
    order = ["lr", *(k for k in entry if k not in ("lr", "sr", "gt")), "sr", "gt"]
    loaded = {kind: _load(entry[kind]) for kind in order if entry.get(kind) is not None}
    sr = loaded["sr"]
    top, left, size = _zoom_region(sr, loaded.get("gt"), border)
    h, w = sr.shape[-2:]
    box = (top / h, left / w, size / h, size / w)
    full, zoom = [], []
    for kind, img in loaded.items():
        ih, iw = img.shape[-2:]
        name = kind.upper() if kind in ("lr", "sr", "gt") else kind
        file_stem = f"{stem}_{re.sub(r'[^A-Za-z0-9._-]', '_', kind)}"
        full.append(figure(assets.link(entry[kind], img, file_stem), f"{name} {iw}x{ih}", box, pixelated=kind == "lr"))
        crop = _zoomed(img, top * ih / h, left * iw / w, size * iw / w)
        zoom.append(figure(assets.write(crop, f"{file_stem}_zoom"), f"{name} zoom", pixelated=True))
    why = "largest |SR - GT|" if "gt" in loaded and loaded["gt"].shape == sr.shape else "centre: no GT"
    metrics = " · ".join(f"{_NAMES[key]} {_fmt(key, row.get(key))}" for key in METRIC_KEYS)
    return (f'<section id="img{index}"><h3>{html.escape(row["name"])} <small>{metrics}</small></h3>'
            f'<div class="row">{"".join(full)}</div>'
            f'<p class="note">zoom: {size}x{size} SR pixels at x={left}, y={top} ({why})</p>'
            f'<div class="row zoom">{"".join(zoom)}</div></section>')


PAGE_CSS = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1400px}
h1{margin:0 0 4px}.preset{background:#eef3fa;border-left:4px solid #3b6fb6;padding:8px 12px;margin:8px 0 16px}
.warn{background:#fff4e0;border-left:4px solid #d08a00;padding:8px 12px}
table{border-collapse:collapse;margin:12px 0}td,th{padding:3px 12px;text-align:right;border-bottom:1px solid #ddd}
td:nth-child(2),th:nth-child(2){text-align:left}tr.mean td{font-weight:bold;background:#f4f4f4}
.row{display:flex;gap:10px;align-items:flex-start}.row figure{flex:1 1 0;min-width:0;margin:0}
.zoom{flex-wrap:wrap}.zoom figure{flex:0 0 auto}.zoom img{width:{zoom}px;height:{zoom}px}
.frame{position:relative;line-height:0}.frame img{width:100%}.zoom .frame img{width:{zoom}px}
.box{position:absolute;border:2px solid #ff2d55;box-sizing:border-box}
img.pixelated{image-rendering:pixelated}figcaption{font-size:13px;color:#555;margin-top:3px}
section{border-top:1px solid #ccc;padding-top:8px;margin-top:18px}
h3 small{font-weight:normal;color:#555;margin-left:10px}
.note{font-size:13px;color:#555;margin:6px 0}img.plot{max-width:100%}
""".replace("{zoom}", str(ZOOM_DISPLAY))


def write_html_report(out_dir: str | Path, rows: list[dict], preset: str | Preset, images: dict[str, dict],
                      lpips_note: str | None = None, title: str = "SR evaluation") -> Path:
    """out_dir/report.html: the preset, a PSNR/SSIM plot, the table (worst PSNR first) and, per image with an
    `images` entry (format in the module docstring), LR | SR | GT and zoomed crops of one region.
    Returns the HTML path."""
    out_dir, preset = Path(out_dir), get_preset(preset)
    assets = _Assets(out_dir)
    ordered = sorted(rows, key=lambda row: (row["psnr"] is None, row["psnr"] or 0.0))  # unscored rows last
    sections, table = [], []
    mean = mean_row(rows)
    table.append(f'<tr class="mean"><td></td><td>mean of {len(rows)}</td>'
                 + "".join(f"<td>{_fmt(k, mean[k])}</td>" for k in METRIC_KEYS) + "</tr>")
    for i, row in enumerate(ordered, 1):
        name = html.escape(row["name"])
        link = f'<a href="#img{i}">{name}</a>' if row["name"] in images else name
        table.append(f"<tr><td>{i}</td><td>{link}</td>" + "".join(f"<td>{_fmt(k, row.get(k))}</td>" for k in METRIC_KEYS)
                     + "</tr>")
        if row["name"] in images:
            sections.append(_image_section(i, row, images[row["name"]], assets, preset.crop_border or 0))
    warn = f'<p class="warn">LPIPS unavailable: {html.escape(lpips_note)}</p>' if lpips_note else ""
    scored = any(row["psnr"] is not None for row in rows)
    plot = (f'<img class="plot" src="data:image/png;base64,{_plot_png(ordered)}" alt="per-image PSNR and SSIM">'
            if scored else "")
    page = (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{PAGE_CSS}</style></head><body><h1>{html.escape(title)}</h1>"
            f'<div class="preset">{html.escape(preset.describe())}</div>{warn}{plot}'
            f'<table><tr><th>#</th><th>image</th><th>PSNR</th><th>SSIM</th><th>LPIPS</th><th>HaarPSI</th></tr>{"".join(table)}</table>'
            f'{"".join(sections)}</body></html>\n')
    path = out_dir / "report.html"
    path.write_text(page)
    return path
