"""Named scoring conventions, and `score`, the one entry point that applies them.

Papers in SR report PSNR/SSIM/LPIPS under different conventions (colour space, SSIM window, crop,
rounding); numbers are only comparable under the same one. A preset pins all of them and its name is
printed next to every table.

    scores = score(sr, hr, preset="rwsr_rgb", scale=4, lpips=load_lpips("alex"))
    scores["psnr"], scores["ssim"], scores["lpips"]   # (N,) float64 tensors on the input's device
"""
from dataclasses import asdict, dataclass, replace

import torch

from deflow.errors import UserError
from metrics.lpips_metric import LPIPSMetric
from metrics.perceptual import haarpsi as haarpsi_index
from metrics.prepare import check_pair, lpips_input, one_cpu_thread, prepare
from metrics.psnr import psnr_255
from metrics.ssim import ssim_255


# Images per chunk in `score`: about this many pixels, so that CPU temporaries stay small and are reused.
_CHUNK_PIXELS, _CHUNK_PIXELS_GPU = 1 << 18, 1 << 24


@dataclass(frozen=True)
class Preset:
    """One scoring convention.

    name: what tables print.
    color: "rgb" scores all three channels; "y" the BT.601 16-235 luma (MATLAB rgb2ycbcr), not rounded.
    ssim_window, ssim_win_size, ssim_sigma, ssim_sample_covariance: see metrics/ssim.py.
    lpips_net: LPIPS v0.1 backbone ("alex", "vgg") or None for no LPIPS; lpips_crop: LPIPS on the
        cropped image too (False: on the whole image).
    quantize: round to 8 bit first, i.e. score what a saved PNG holds.
    crop_border: pixels dropped from every edge; None means "the SR scale" until `resolve_preset`.
    follows: whose published numbers the preset reproduces.
    """
    name: str
    color: str
    ssim_window: str
    ssim_win_size: int
    ssim_sigma: float | None
    ssim_sample_covariance: bool
    lpips_net: str | None
    lpips_crop: bool = True
    quantize: bool = True
    crop_border: int | None = None
    follows: str = ""

    def describe(self) -> str:
        """One line for the top of a table: every convention the numbers depend on."""
        if self.ssim_window == "gaussian":
            window = f"Gaussian {self.ssim_win_size}x{self.ssim_win_size} sigma {self.ssim_sigma}"
        else:
            window = f"uniform {self.ssim_win_size}x{self.ssim_win_size}"
        cov = "sample" if self.ssim_sample_covariance else "population"
        color = "Y (BT.601 16-235)" if self.color == "y" else "RGB"
        crop = "scale" if self.crop_border is None else f"{self.crop_border} px"
        lpips = "none" if self.lpips_net is None else f"{self.lpips_net} v0.1"
        lpips += "" if self.lpips_crop or self.lpips_net is None else ", uncropped"
        text = (f"preset {self.name}: PSNR/SSIM on {color}, {'8-bit' if self.quantize else 'float'}, "
                f"SSIM {window} valid, {cov} covariance; LPIPS {lpips}; crop border {crop}")
        return text + (f" ({self.follows})" if self.follows else "")

    def as_dict(self) -> dict:
        return asdict(self) | {"description": self.describe()}


PRESETS = {p.name: p for p in (
    Preset("rwsr_rgb", color="rgb", ssim_window="uniform", ssim_win_size=7, ssim_sigma=None,
           ssim_sample_covariance=True, lpips_net="alex",
           follows="DeFlow/DASR RWSR protocol: scikit-image PSNR and SSIM on RGB, LPIPS-Alex"),
    Preset("basicsr_y", color="y", ssim_window="gaussian", ssim_win_size=11, ssim_sigma=1.5,
           ssim_sample_covariance=False, lpips_net="vgg", lpips_crop=False,
           follows="BasicSR test_y_channel=True; LPIPS as its calculate_lpips.py: VGG, no crop"),
    Preset("rgb", color="rgb", ssim_window="gaussian", ssim_win_size=11, ssim_sigma=1.5,
           ssim_sample_covariance=False, lpips_net="alex",
           follows="BasicSR test_y_channel=False, LPIPS-Alex"),
)}


def get_preset(preset: str | Preset) -> Preset:
    """A Preset by name (an unknown name is a UserError listing the known ones), or the Preset itself."""
    if isinstance(preset, Preset):
        return preset
    if preset not in PRESETS:
        raise UserError(f"unknown metrics preset {preset!r}; known: {', '.join(PRESETS)}")
    return PRESETS[preset]


def resolve_preset(preset: str | Preset, crop_border: int | None = None, scale: int | None = None) -> Preset:
    """The preset with a concrete crop border: `crop_border` if given, else the preset's, else `scale`, else 0."""
    preset = get_preset(preset)
    for border in (crop_border, preset.crop_border, scale, 0):
        if border is not None:
            return replace(preset, crop_border=int(border))


def score(pred: torch.Tensor, gt: torch.Tensor, preset: str | Preset = "rwsr_rgb", crop_border: int | None = None,
          lpips: LPIPSMetric | None = None, scale: int | None = None, haarpsi: bool = False) -> dict[str, torch.Tensor]:
    """PSNR, SSIM, (if `lpips` is given and available) LPIPS and (if `haarpsi`) HaarPSI of SR output against
    ground truth.

    pred, gt: float RGB in [0, 1], (3, H, W) or (N, 3, H, W), same shape, any device.
    preset: a name in PRESETS or a Preset. crop_border: overrides the preset's crop; by default the crop
    is `scale` (0 if neither is given). lpips: from `load_lpips(preset.lpips_net)`; None or an unavailable
    one leaves "lpips" out of the result (the caller reports `lpips.reason`). haarpsi: also HaarPSI
    (metrics/perceptual.py, needs no weights), on RGB cropped and rounded as the preset crops and rounds LPIPS's input.
    Returns {"psnr", "ssim"[, "lpips"][, "haarpsi"]}: (N,) float64 tensors on the input's device.
    """
    p = resolve_preset(preset, crop_border, scale)
    pred, gt = check_pair(pred, gt)
    chunk = _CHUNK_PIXELS if pred.device.type == "cpu" else _CHUNK_PIXELS_GPU
    step = max(1, chunk // (pred.shape[-2] * pred.shape[-1]))
    parts = [_score_chunk(pred[i:i + step], gt[i:i + step], p, lpips, haarpsi) for i in range(0, pred.shape[0], step)]
    return {key: torch.cat([part[key] for part in parts]) for key in parts[0]}


def _score_chunk(pred: torch.Tensor, gt: torch.Tensor, p: Preset, lpips: LPIPSMetric | None,
                 haarpsi: bool) -> dict[str, torch.Tensor]:
    with one_cpu_thread(pred.device):
        x, y = prepare(pred, gt, p.crop_border, p.color, p.quantize)
        result = {
            "psnr": psnr_255(x, y),
            "ssim": ssim_255(x, y, p.ssim_window, p.ssim_win_size, p.ssim_sigma, p.ssim_sample_covariance,
                             integer_inputs=p.quantize and p.color == "rgb"),
        }
        if haarpsi:
            result["haarpsi"] = haarpsi_index(lpips_input(pred, p.crop_border, p.quantize),
                                              lpips_input(gt, p.crop_border, p.quantize))
    if lpips is not None and lpips.available and p.lpips_net is not None:
        if lpips.net != p.lpips_net:
            raise UserError(f"preset {p.name} uses LPIPS-{p.lpips_net}, but the LPIPS given is LPIPS-{lpips.net}")
        border = p.crop_border if p.lpips_crop else 0
        result["lpips"] = lpips(lpips_input(pred, border, p.quantize), lpips_input(gt, border, p.quantize))
    return result
