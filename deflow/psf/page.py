"""The PSF field page: the fitted PSF grid beside the planted (or a reference) one, with per-node distances."""
import html
from pathlib import Path

import torch

from deflow.imageio import write_image
from metrics.report import PAGE_CSS, figure

ENLARGE = 6  # screen px per kernel px


def field_mosaic(field: torch.Tensor, gap: int = 2) -> torch.Tensor:
    """(3, H, W) picture of a (gh, gw, 3, k, k) field: each node's RGB PSF scaled to its own maximum (so every node
    is readable), nodes in their place in the frame, separated by grey lines; enlarged ENLARGE times."""
    gh, gw, _, k, _ = field.shape
    cell = k + gap
    out = torch.full((3, gh * cell + gap, gw * cell + gap), 0.35)
    for i in range(gh):
        for j in range(gw):
            kernel = field[i, j].clamp(min=0)
            top, left = gap + i * cell, gap + j * cell
            out[:, top:top + k, left:left + k] = kernel / kernel.amax().clamp(min=1e-12)
    return out.repeat_interleave(ENLARGE, 1).repeat_interleave(ENLARGE, 2)


def write_field_page(out_dir: Path, fitted: torch.Tensor, reference: torch.Tensor | None = None,
                     metrics: dict | None = None, title: str = "PSF field", reference_label: str = "planted") -> Path:
    """out_dir/psf_field.html with psf_field_files/: the fitted grid (beside the reference grid and a table of the
    per-node distance), and `metrics` {name: value} as a table. Returns the page's path."""
    from deflow.psf.losses import normalised_l1

    assets = out_dir / "psf_field_files"
    assets.mkdir(parents=True, exist_ok=True)
    write_image(assets / "fitted.png", field_mosaic(fitted))
    figures = [figure("psf_field_files/fitted.png", f"fitted: {fitted.shape[0]}x{fitted.shape[1]} nodes, RGB, "
                                                     f"{fitted.shape[-1]} px kernels", pixelated=True)]
    tables = ""
    if reference is not None:
        write_image(assets / "reference.png", field_mosaic(reference))
        figures.insert(0, figure("psf_field_files/reference.png", f"{reference_label}", pixelated=True))
        from degradations.blur import pad_kernels
        size = max(fitted.shape[-1], reference.shape[-1])
        dist = normalised_l1(pad_kernels(fitted, size), pad_kernels(reference.to(fitted), size)).mean(dim=-1)
        rows = "".join("<tr>" + "".join(f"<td>{v:.3f}</td>" for v in row) + "</tr>" for row in dist.tolist())
        tables += (f"<h2>per-node L1 distance of the normalised kernels (mean of R, G, B; 0 = equal, 2 = disjoint)"
                   f"</h2><table>{rows}</table>")
    if metrics:
        tables += "<h2>measurements</h2><table>" + "".join(
            f"<tr><td>{html.escape(k)}</td><td>{v:.4f}</td></tr>" if isinstance(v, float) else
            f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(v))}</td></tr>" for k, v in metrics.items()) + "</table>"
    page = (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{PAGE_CSS}</style></head><body><h1>{html.escape(title)}</h1>"
            f"<p>Each node's PSF is shown scaled to its own maximum, in its place in the frame.</p>"
            f'<div class="row">{"".join(figures)}</div>{tables}</body></html>\n')
    path = out_dir / "psf_field.html"
    path.write_text(page)
    return path
