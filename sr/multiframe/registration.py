"""Registration of every frame of a burst to its reference (frame 0), with a confidence per frame.

Methods (the motion convention is sr/multiframe/geometry.py's):
- "phase": global translation by phase correlation (Kuglin & Hines 1975) with a Hann window; sub-pixel by the 5x5
  weighted centroid of the peak, as `cv2.phaseCorrelate` (not called: see `phase_translation`). Confidence: the
  peak's energy.
- "ecc": the phase translation refined to a rigid motion (rotation + translation) by ECC (Evangelidis & Psarakis,
  IEEE TPAMI 30(10), 2008; `cv2.findTransformECC`, MOTION_EUCLIDEAN). Confidence: the correlation coefficient.
- "dis": a dense flow for non-rigid motion (DIS, Kroeger et al., ECCV 2016; `cv2.DISOpticalFlow`, MEDIUM preset)
  started from the ECC motion. Confidence: the smaller of ECC's correlation and that of the frame with the reference
  sampled along the flow (a free flow matches even noise to the reference fairly well, 0.7 measured).

A frame whose confidence is below `min_confidence` times the best other frame's is rejected as an outlier
(`keep_mask`); a corrupted frame (pure noise, another scene) correlates with nothing and drops out.
"""
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from deflow.errors import UserError
from degradations.noise import luma
from sr.multiframe.geometry import grid, positions_from_affine, sample

METHODS = ("phase", "ecc", "dis")
IDENTITY = np.array([[1, 0, 0], [0, 1, 0]], np.float32)


@dataclass
class Registration:
    positions: torch.Tensor   # (T, 2, h, w) where each frame pixel lies on the reference grid
    confidence: torch.Tensor  # (T,) per frame; the reference's is 1
    matrices: torch.Tensor | None = None  # (T, 2, 3) global motions (None for dense flow)


def gray(frames: torch.Tensor) -> np.ndarray:
    """(T, 3, h, w) -> (T, h, w) float32 BT.601 luma."""
    return luma(frames.float()).squeeze(1).cpu().numpy().astype(np.float32)


def phase_translation(ref: np.ndarray, frame: np.ndarray) -> tuple[np.ndarray, float]:
    """(2, 3) translation of `frame` onto `ref` and the phase-correlation response (the energy of the 5x5 peak).

    cv2.phaseCorrelate's method (Hann window, normalised cross-power spectrum, 5x5 weighted centroid around the peak)
    in numpy: the opencv-python-headless 5.0.0 wheel returned a different shift at each call on the same inputs."""
    h, w = ref.shape
    window = np.outer(np.hanning(h), np.hanning(w))
    cross = np.conj(np.fft.fft2(ref * window)) * np.fft.fft2(frame * window)
    r = np.real(np.fft.ifft2(cross / np.maximum(np.abs(cross), 1e-12)))
    py, px = np.unravel_index(int(np.argmax(r)), r.shape)
    ys, xs = np.mgrid[py - 2:py + 3, px - 2:px + 3]
    patch = r[ys % h, xs % w]
    total = patch.sum()
    dy, dx = (ys * patch).sum() / total, (xs * patch).sum() / total
    dy, dx = (dy + h / 2) % h - h / 2, (dx + w / 2) % w - w / 2  # wrap to [-size/2, size/2)
    # frame(q) = ref(q - d): frame pixel q lies at q - d on the reference
    return np.array([[1, 0, -dx], [0, 1, -dy]], np.float32), float(total)


def ecc_motion(ref: np.ndarray, frame: np.ndarray, init: np.ndarray, iterations: int = 100,
               gauss_size: int = 5) -> tuple[np.ndarray, float]:
    """(2, 3) rigid motion of `frame` onto `ref` refined from `init`, and ECC's correlation (0 if it fails)."""
    criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, iterations, 1e-6)
    try:
        cc, warp = cv2.findTransformECC(frame, ref, init.copy(), cv2.MOTION_EUCLIDEAN, criteria, None, gauss_size)
    except cv2.error:  # ECC did not converge: nothing to trust in this frame
        return init, 0.0
    return warp, float(cc)


def correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / (a.norm() * b.norm()).clamp_min(1e-12))


def dis_positions(ref: np.ndarray, frame: np.ndarray, init: torch.Tensor) -> torch.Tensor:
    """(2, h, w) positions of `frame`'s pixels on `ref` from DIS flow, started at the positions `init`."""
    h, w = ref.shape
    to_u8 = lambda x: np.clip(x * 255 + 0.5, 0, 255).astype(np.uint8)  # noqa: E731  DIS takes 8-bit images
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    start = (init - grid(h, w)).permute(1, 2, 0).contiguous().numpy()
    flow = dis.calc(to_u8(frame), to_u8(ref), start.copy())
    return grid(h, w) + torch.from_numpy(flow).permute(2, 0, 1)


def register_burst(frames: torch.Tensor, method: str = "ecc") -> Registration:
    """Register the frames (T, 3, h, w) to frame 0 with `method` (one of METHODS)."""
    if method not in METHODS:
        raise UserError(f"registration {method!r}: choose one of {', '.join(METHODS)}")
    t, _, h, w = frames.shape
    g = gray(frames)
    matrices, confidence = [IDENTITY], [1.0]
    for k in range(1, t):
        matrix, conf = phase_translation(g[0], g[k])
        if method != "phase":
            matrix, conf = ecc_motion(g[0], g[k], matrix)
        matrices.append(matrix)
        confidence.append(conf)
    matrices = torch.from_numpy(np.stack(matrices)).float()
    positions = positions_from_affine(matrices, h, w)
    if method != "dis":
        return Registration(positions, torch.tensor(confidence), matrices)
    ref = torch.from_numpy(g[0])[None, None]
    for k in range(1, t):
        positions[k] = dis_positions(g[0], g[k], positions[k])
        confidence[k] = min(confidence[k], correlation(torch.from_numpy(g[k]), sample(ref, positions[k][None])[0, 0]))
    return Registration(positions, torch.tensor(confidence), None)


def keep_mask(confidence: torch.Tensor, min_confidence: float) -> torch.Tensor:
    """(T,) bool: the reference, and every frame whose confidence is at least `min_confidence` times the best
    other frame's."""
    keep = torch.ones_like(confidence, dtype=torch.bool)
    if confidence.numel() > 1:
        best = confidence[1:].max()
        keep[1:] = confidence[1:] >= min_confidence * best
    return keep
