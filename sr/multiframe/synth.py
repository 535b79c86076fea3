"""Synthetic bursts from a still photo, after DBSR's generator (Bhat et al., CVPR 2021, section 4; goutamgmb/
deep-burst-sr `data/synthetic_burst_generation.py`): every frame is the photo under a random rigid motion (sub-pixel
translation, a small rotation), then through the camera (`degradations.camera`: blur in linear light, area
sampling, Poisson-Gaussian noise drawn afresh per frame, ISP, JPEG). Frame 0 is the reference and is not moved, so
the ground truth is the photo itself on the reference's grid (area sampling puts an LR pixel's centre at the centre
of its HR footprint). Differences from DBSR, on purpose: sRGB frames through the benchmark camera instead of RAW
mosaics, float warps (bicubic) instead of 8-bit ones, and translations of a few LR pixels instead of 24 HR px.
"""
import math
from dataclasses import dataclass

import torch

from degradations.camera import Camera
from sr.multiframe.geometry import hr_motion_to_lr, rigid, warp_affine


@dataclass
class Burst:
    frames: torch.Tensor   # (T, 3, h, w) LR frames, frame 0 the reference
    gt: torch.Tensor       # (3, h * scale, w * scale) the photo on the reference grid
    motions: torch.Tensor  # (T, 2, 3) true motion of each frame: its LR coordinates -> the reference's


def margin_for(size: int, max_shift: float, max_rotation: float, scale: int) -> int:
    """HR pixels cut from each side so that no warped frame reaches outside the photo (a multiple of scale)."""
    reach = max_shift + size / math.sqrt(2) * math.sin(math.radians(max_rotation)) + 2
    return int(math.ceil(reach / scale)) * scale


def draw_motions(frames: int, max_shift: float, max_rotation: float, centre: tuple[float, float],
                 generator: torch.Generator) -> torch.Tensor:
    """(T, 2, 3) HR motions: identity for frame 0, then uniform translations in [-max_shift, max_shift] HR px per
    axis and rotations in [-max_rotation, max_rotation] degrees about `centre`."""
    motions = [rigid(0.0, 0.0, 0.0, centre)]
    for _ in range(frames - 1):
        angle, tx, ty = (2 * torch.rand(3, generator=generator, dtype=torch.float64) - 1).tolist()
        motions.append(rigid(angle * max_rotation, tx * max_shift, ty * max_shift, centre))
    return torch.stack(motions)


def synthesize_burst(hr: torch.Tensor, frames: int, camera: Camera, generator: torch.Generator,
                     max_shift: float = 4.0, max_rotation: float = 1.0) -> Burst:
    """A burst of `frames` LR frames of the photo `hr` (3, H, W) sRGB in [0, 1].

    The ground truth is the photo less a margin (margin_for) on each side, cut to a multiple of the camera's scale;
    `max_shift` is in HR pixels, `max_rotation` in degrees. All randomness (motions, noise) comes from `generator`."""
    scale = camera.scale
    _, h, w = hr.shape
    m = margin_for(max(h, w), max_shift, max_rotation, scale)
    gh, gw = (h - 2 * m) // scale * scale, (w - 2 * m) // scale * scale
    if gh < scale or gw < scale:
        raise ValueError(f"a {w}x{h} photo is too small for a burst with {m} px margins")
    hr_motions = draw_motions(frames, max_shift, max_rotation, ((w - 1) / 2, (h - 1) / 2), generator)
    warped = torch.stack([warp_affine(hr, a.float()) if k else hr for k, a in enumerate(hr_motions)])
    warped = warped[..., m:m + gh, m:m + gw].clamp(0, 1)
    lr = camera(warped, generator)
    motions = torch.stack([hr_motion_to_lr(a, scale, m) for a in hr_motions]).float()
    return Burst(lr, hr[:, m:m + gh, m:m + gw].clone(), motions)
