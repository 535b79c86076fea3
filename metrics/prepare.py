"""What a preset does to float RGB images before scoring: border crop, 8-bit rounding, scaling to 0-255, luma.

Inputs are float RGB tensors in [0, 1], (3, H, W) or (N, 3, H, W), on any device. Outputs are on the same
device, in the 0-255 range, (N, 3, H, W) for RGB or (N, 1, H, W) for Y: float32 when they hold 8-bit
integers (exact in float32, half the memory traffic of float64), float64 otherwise.
"""
import contextlib

import torch

from deflow.errors import UserError

# ITU-R BT.601 luma in the 16-235 studio range, as MATLAB's rgb2ycbcr (and BasicSR's bgr2ycbcr):
# Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255 for R, G, B in 0-255.
BT601_Y_WEIGHTS = (65.481, 128.553, 24.966)
COLORS = ("rgb", "y")


def as_batch(img: torch.Tensor, what: str = "image") -> torch.Tensor:
    """(3, H, W) or (N, 3, H, W) float RGB -> (N, 3, H, W)."""
    if not isinstance(img, torch.Tensor):
        raise TypeError(f"{what}: expected a torch.Tensor, got {type(img).__name__}")
    if img.dim() == 3:
        img = img.unsqueeze(0)
    if img.dim() != 4 or img.shape[1] != 3:
        raise UserError(f"{what}: expected an RGB image (3, H, W) or batch (N, 3, H, W), got shape {tuple(img.shape)}")
    if not img.is_floating_point():
        raise UserError(f"{what}: expected float values in [0, 1], got dtype {img.dtype}")
    return img


def check_pair(pred: torch.Tensor, gt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Both as (N, 3, H, W) batches of the same shape; a size mismatch is a UserError naming both shapes."""
    pred, gt = as_batch(pred, "prediction"), as_batch(gt, "ground truth")
    if pred.shape != gt.shape:
        raise UserError(f"prediction and ground truth differ in shape: {tuple(pred.shape)} vs {tuple(gt.shape)}")
    return pred, gt


def crop(img: torch.Tensor, border: int) -> torch.Tensor:
    """Drop `border` pixels from every edge of (..., H, W)."""
    if border < 0:
        raise UserError(f"crop_border must be >= 0, got {border}")
    if border == 0:
        return img
    h, w = img.shape[-2:]
    if 2 * border >= min(h, w):
        raise UserError(f"crop_border {border} leaves nothing of a {w}x{h} image")
    return img[..., border:h - border, border:w - border]


@torch.no_grad()
def to_255(img: torch.Tensor, quantize: bool = True) -> torch.Tensor:
    """[0, 1] -> 0-255, contiguous whatever the input's layout: rounded to integers (float32) as a saved
    8-bit PNG holds them (deflow.imageio.to_uint8) if `quantize`, else float64."""
    out = torch.empty(img.shape, dtype=torch.float32 if quantize else torch.float64, device=img.device)
    torch.clamp(img, 0, 1, out=out).mul_(255.0)
    return out.round_() if quantize else out


def lpips_input(img: torch.Tensor, crop_border: int = 0, quantize: bool = True) -> torch.Tensor:
    """What LPIPS sees: (N, 3, H, W) float32 RGB in [0, 1], cropped and, if `quantize`, on the 8-bit grid."""
    return (to_255(crop(img, crop_border), quantize) / 255.0).float()


def rgb_to_y(rgb255: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) RGB in 0-255 -> (N, 1, H, W) BT.601 Y in 16-235, float64, not rounded."""
    w = torch.tensor(BT601_Y_WEIGHTS, dtype=torch.float64, device=rgb255.device).view(1, 3, 1, 1)
    return 16.0 + (rgb255.double() * w).sum(dim=1, keepdim=True) / 255.0


def prepare(pred: torch.Tensor, gt: torch.Tensor, crop_border: int = 0, color: str = "rgb",
            quantize: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """The two arrays a preset scores: cropped, rounded to 8 bit if `quantize`, in 0-255, RGB or Y (`color`)."""
    if color not in COLORS:
        raise UserError(f"unknown color {color!r}; known: {', '.join(COLORS)}")
    pred, gt = check_pair(pred, gt)
    x, y = (to_255(crop(img, crop_border), quantize) for img in (pred, gt))
    if color == "y":
        x, y = rgb_to_y(x), rgb_to_y(y)
    return x, y


@contextlib.contextmanager
def one_cpu_thread(device: torch.device):
    """Run PSNR/SSIM on one CPU thread, restoring torch's setting afterwards.

    Their ops are small (SSIM works in bands of ~64k pixels), so splitting each across threads gains
    little, while on a busy CPU (data-loader workers, other jobs) every op waits for a descheduled thread:
    measured 5-10x slower with 2 threads on 2 shared cores. Not for LPIPS, whose convolutions do scale.
    """
    threads = torch.get_num_threads()
    if device.type != "cpu" or threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
