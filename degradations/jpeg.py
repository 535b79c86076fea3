"""JPEG compression through OpenCV's encoder, and 8-bit quantisation."""
import cv2
import numpy as np
import torch

Quality = int | torch.Tensor | list[int]


def quantize(x: torch.Tensor, bits: int | torch.Tensor = 8) -> torch.Tensor:
    """Round to L = 2^bits - 1 levels: clamp(round(x * L), 0, L) / L.

    x: any shape; bits: an int, or a (B,) tensor of per-image bit depths for x of shape (B, ...).
    """
    if isinstance(bits, torch.Tensor):
        levels = (2.0 ** bits.to(x.device, x.dtype) - 1).reshape(-1, *([1] * (x.dim() - 1)))
        return torch.minimum(torch.round(x * levels).clamp(min=0), levels) / levels
    levels = 2 ** bits - 1
    return torch.clamp(torch.round(x * levels), 0, levels) / levels


_SUBSAMPLING = {"420": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420, "422": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422,
                "444": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444}


def jpeg(x: torch.Tensor, quality: Quality, subsampling: str | list[str] = "420") -> torch.Tensor:
    """Encode and decode each image as JPEG with OpenCV at its own quality.

    Args:
        x: (B, 3, H, W) RGB in [0, 1] (clamped and rounded to 8 bits first).
        quality: one int in [0, 100] or B of them (list or (B,) tensor).
        subsampling: chroma subsampling, '420' (OpenCV's default, as most cameras and Real-ESRGAN's
            DiffJPEG), '422' or '444'; one for the batch or one per image.

    Returns:
        (B, 3, H, W) float32 on x's device, values k / 255.
    """
    b = x.shape[0]
    qualities = _per_image(torch.as_tensor(quality).reshape(-1).round().int().tolist(), b, "qualities")
    samplings = _per_image([subsampling] if isinstance(subsampling, str) else list(subsampling), b, "subsamplings")
    for s in samplings:
        if s not in _SUBSAMPLING:
            raise ValueError(f"subsampling must be one of {', '.join(_SUBSAMPLING)}, got {s!r}")
    images = (quantize(x.detach().float()) * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()
    out = np.empty_like(images)
    for i, (img, q, s) in enumerate(zip(images, qualities, samplings)):
        options = [cv2.IMWRITE_JPEG_QUALITY, int(q), cv2.IMWRITE_JPEG_SAMPLING_FACTOR, _SUBSAMPLING[s]]
        ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(img[:, :, ::-1]), options)
        if not ok:
            raise RuntimeError("OpenCV could not encode a JPEG")
        out[i] = cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1]
    return torch.from_numpy(out).to(x.device).permute(0, 3, 1, 2).float().div(255.0)


def _per_image(values: list, b: int, what: str) -> list:
    if len(values) == 1:
        return values * b
    if len(values) != b:
        raise ValueError(f"got {len(values)} {what} for a batch of {b}")
    return values
