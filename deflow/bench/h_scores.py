"""Scores of a domain-invariant function h and of a DeFlow model trained with it, for the h ablation (ablate.py).

h_gap: how much more noise the real domain's conditioning carries than the clean domain's. On pairs of the same
photo, the camera's LR (real) and the bicubic LR (clean): base = h.downsample(clean) rounded as dataset creation
writes it (deflow.flow.h.conditioning_image); both conditionings perturbed with the same draw;
h_gap = RMS(perturb(h(real)) - base) - RMS(perturb(h(clean)) - base), in 8-bit units, pooled over pixels, channels
and photos. With the residual g = h(real) - h(clean) and the masking noise n, it is about sqrt(g^2 + n^2) - n:
0 when h removes what the camera added (g = 0) or masks it (n >> g), g when nothing masks it.

Held-out NLL: the DeFlow model's negative log-likelihood (bits per dimension, DeFlowNet.nll with the dequantisation
noise of the trainer's validation, seed 0) of non-overlapping CROP px tiles of images it never saw, under their
own domain's label; each tile's conditioning is cut from the conditioning image of the whole image, as the
training crops are.
"""
import re
from datetime import datetime
from pathlib import Path

import torch

from deflow.flow.h import conditioning_image

CROP = 48  # the benchmark DeFlow's gt_size (deflow/bench/confs/deflow-bench.yml)
DATE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) ")


@torch.no_grad()
def h_gap(h, clean: list[torch.Tensor], real: list[torch.Tensor]) -> float:
    """The module docstring's h_gap of `h` (8-bit units) over pairs clean[i], real[i] of (3, H, W) images of the
    same photo, H and W multiples of h's factor."""
    squares, count = torch.zeros(2, dtype=torch.float64), 0
    for i, pair in enumerate(zip(clean, real)):
        base = conditioning_image(h, pair[0][None])
        for k, image in enumerate(pair):
            masked = h.perturb(conditioning_image(h, image[None]), torch.Generator().manual_seed(i))
            squares[k] += ((masked - base).double() * 255).pow(2).sum()
        count += base.numel()
    rms = (squares / count).sqrt()
    return float(rms[1] - rms[0])


@torch.no_grad()
def heldout_nll(model, images: list[torch.Tensor], label: int) -> float:
    """Mean bits per dimension of `model` (a DeFlowModel) over the CROP px tiles of `images` ((3, H, W), sides
    multiples of the model's scale) in domain `label` (0 clean, 1 degraded)."""
    net = model.net_for_inference("g")
    gts, lqs = [], []
    for image in images:
        image = image[None].to(model.device)
        lq = model.conditioning_image(image)
        s = image.shape[-1] // lq.shape[-1]  # the model's scale
        c = CROP // s
        for top in range(0, image.shape[-2] - CROP + 1, CROP):
            for left in range(0, image.shape[-1] - CROP + 1, CROP):
                gts.append(image[..., top:top + CROP, left:left + CROP])
                lqs.append(lq[..., top // s:top // s + c, left // s:left // s + c])
    generator = torch.Generator(device=model.device).manual_seed(0)
    labels = torch.full((len(gts),), label, device=model.device)
    return float(net.nll(torch.cat(gts), torch.cat(lqs), labels, generator=generator).bits_per_dim.mean())


def tile_count(images: list[torch.Tensor]) -> int:
    """The number of CROP px tiles heldout_nll scores in `images`."""
    return sum((img.shape[-2] // CROP) * (img.shape[-1] // CROP) for img in images)


def training_seconds(run_dir: Path) -> float | None:
    """Seconds from the first line of a training's train.log to its 'done' line (None before it is done); a resumed
    training counts the pause too."""
    log = run_dir / "train.log"
    if not log.exists():
        return None
    stamps = [(m.group(1), line) for line in log.read_text().splitlines() if (m := DATE.match(line))]
    if not stamps or " INFO done:" not in stamps[-1][1]:
        return None
    first, last = (datetime.fromisoformat(stamp) for stamp, _ in (stamps[0], stamps[-1]))
    return (last - first).total_seconds()
