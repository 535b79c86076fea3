"""HaarPSI (Reisenhofer, Bosse, Kutyniok & Wiegand, "A Haar wavelet-based perceptual similarity index for image
quality assessment", Signal Processing: Image Communication 61, 2018), through the maintained `piq` package.

A full-reference perceptual metric with no learned weights, so it works offline where LPIPS's ImageNet backbone is
missing; the paper reports higher rank correlations with human opinion scores than SSIM, FSIM and the other
hand-made metrics it compares on LIVE, TID2008, TID2013 and CSIQ. In [0, 1], higher is better. Settings are piq's,
the paper's: 3 Haar scales, 2x subsampling first, C = 30, alpha = 4.2, on RGB (luma and chroma of YIQ).
"""
import torch

from deflow.errors import UserError
from metrics.prepare import check_pair

HAARPSI_MIN_SIDE = 16  # 2 ** (scales + 1), the widest Haar filter at 3 scales


@torch.no_grad()
def haarpsi(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """HaarPSI of float RGB images in [0, 1], (3, H, W) or (N, 3, H, W), both sides >= 16 -> (N,) float64."""
    import piq  # imported here: it pulls in torchvision, which importing `metrics` must not

    pred, gt = check_pair(pred, gt)
    if min(pred.shape[-2:]) < HAARPSI_MIN_SIDE:
        raise UserError(f"HaarPSI needs images of at least {HAARPSI_MIN_SIDE}x{HAARPSI_MIN_SIDE} pixels (after the "
                        f"crop), got {pred.shape[-1]}x{pred.shape[-2]}")
    return piq.haarpsi(pred.float().clamp(0, 1), gt.float().clamp(0, 1), reduction="none", data_range=1.0).double()
