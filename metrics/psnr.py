"""Peak signal-to-noise ratio per image, in float64: 10 log10(R^2 / MSE) over all channels and pixels."""
import torch

from metrics.prepare import prepare


def psnr_255(x: torch.Tensor, y: torch.Tensor, data_range: float = 255.0) -> torch.Tensor:
    """PSNR of prepared (N, C, H, W) arrays -> (N,) float64 dB; identical images give inf.

    x, y as `metrics.prepare.prepare` returns them: float64, or float32 holding 8-bit integers (whose
    difference float32 computes exactly).

    The MSE runs over C, H and W together, as scikit-image's peak_signal_noise_ratio on an RGB array.
    """
    mse = torch.sub(x, y).double().square_().mean(dim=(1, 2, 3))
    return 10.0 * torch.log10(data_range ** 2 / mse)


def psnr(pred: torch.Tensor, gt: torch.Tensor, crop_border: int = 0, color: str = "rgb",
         quantize: bool = True) -> torch.Tensor:
    """PSNR of float RGB [0, 1] images (3, H, W) or (N, 3, H, W) -> (N,) float64 on their device.

    crop_border: pixels dropped from every edge; color: "rgb" or "y" (BT.601 16-235 luma);
    quantize: round to 8 bit first. `metrics.score` applies these from a named preset.
    """
    return psnr_255(*prepare(pred, gt, crop_border, color, quantize))
