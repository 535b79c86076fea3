"""JPEG compression through OpenCV's encoder, and 8-bit quantisation."""
import cv2
import numpy as np
import torch

Quality = int | torch.Tensor | list[int]


def quantize(x: torch.Tensor, bits: int = 8) -> torch.Tensor:
    """Round to 2^bits - 1 levels: clamp(round(x * L), 0, L) / L with L = 2^bits - 1. Any shape."""
    levels = 2 ** bits - 1
    return torch.clamp(torch.round(x * levels), 0, levels) / levels


def jpeg(x: torch.Tensor, quality: Quality) -> torch.Tensor:
    """Encode and decode each image as JPEG (4:2:0, OpenCV defaults) at its own quality.

    Args:
        x: (B, 3, H, W) RGB in [0, 1] (clamped and rounded to 8 bits first).
        quality: one int in [0, 100] or B of them (list or (B,) tensor).

    Returns:
        (B, 3, H, W) float32 on x's device, values k / 255.
    """
    b = x.shape[0]
    qualities = torch.as_tensor(quality).reshape(-1).round().int().tolist()
    if len(qualities) == 1:
        qualities *= b
    if len(qualities) != b:
        raise ValueError(f"got {len(qualities)} qualities for a batch of {b}")
    images = (quantize(x.detach().float()) * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()
    out = np.empty_like(images)
    for i, (img, q) in enumerate(zip(images, qualities)):
        ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(img[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, int(q)])
        if not ok:
            raise RuntimeError("OpenCV could not encode a JPEG")
        out[i] = cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1]
    return torch.from_numpy(out).to(x.device).permute(0, 3, 1, 2).float().div(255.0)
