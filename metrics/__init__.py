"""Image-quality metrics for SR: PSNR, SSIM, LPIPS and HaarPSI under named conventions (presets).

    from metrics import score, load_lpips
    scores = score(sr, hr, preset="rwsr_rgb", scale=4, lpips=load_lpips("alex"), haarpsi=True)

Images are float RGB tensors in [0, 1], (N, 3, H, W), on any device; results are (N,) float64 tensors.
Importing this package builds no network.
"""
from metrics.lpips_metric import BACKBONE_ENV, LPIPSMetric, load_lpips
from metrics.perceptual import haarpsi
from metrics.presets import PRESETS, Preset, get_preset, resolve_preset, score

__all__ = ["BACKBONE_ENV", "LPIPSMetric", "PRESETS", "Preset", "get_preset", "haarpsi", "load_lpips", "resolve_preset",
           "score"]
