"""The camera benchmark's stand-in for an unknown real camera: a fixed HR -> LR model built from `degradations/`.

    camera = Camera(CameraParams())           # or Camera.from_dict({"read_std": 0.03, ...})
    lr = camera(hr, torch.Generator().manual_seed(0))    # hr (B, 3, H, W) sRGB in [0, 1] -> (B, 3, H/2, W/2)

The chain, in the order light meets a camera: sRGB -> linear camera RGB (`isp.unprocess`), optical blur in linear
light, x`scale` sensor sampling (area: each LR pixel integrates its HR footprint), signal-dependent sensor noise
(Poisson shot + Gaussian read, `noise.poisson_gaussian_noise`), the ISP back to sRGB (`isp.process`: gains, colour
matrix, gamma, tone curve), JPEG. The same parameters, input and generator seed give bit-identical output.

Default strength: noise-dominant, which a small SR network can learn to invert. While this benchmark was
calibrated, a 0.3 M-parameter x2 network (1500 iterations) gained 2.9 dB from oracle over bicubic pairs with Poisson
at 40 photons per unit signal and read noise std 0.02, and 0.8 dB with 200 photons and read noise 0.01. Measured
with the benchmark's SR model (deflow/bench/confs/sr-bench-x2.yml, 1500 iterations, seed 0, default photo split):
these defaults give oracle 24.51 dB vs bicubic 21.45 dB (3.1 dB); with the full run's 1300 iterations and three seeds
2.77 +- 0.01 dB. With the SR learning rate at 2e-4 instead of 5e-4 the gap was 1.75 dB, and 1.0 dB with isp="srgb"
(no colour matrix: weaker chroma noise that hurts bicubic pairs less).
"""
import math
from dataclasses import asdict, dataclass, fields

import torch

from deflow.errors import UserError
from degradations import isp
from degradations.blur import blur
from degradations.jpeg import jpeg, quantize
from degradations.kernels import gaussian_kernel
from degradations.noise import poisson_gaussian_noise
from degradations.resize import MODES, resize


def _srgb_isp(batch: int = 1) -> isp.ISPParams:
    """A neutral ISP: identity colour matrix and gains, gamma 2.2 and Brooks' smoothstep tone curve."""
    return isp.ISPParams(torch.eye(3).expand(batch, 3, 3).clone(), torch.ones(batch, 3), tone_map=True, gamma=2.2,
                         safe_highlights=False)


ISPS = {"srgb": _srgb_isp, "chen_phone": isp.chen_phone_params}


@dataclass(frozen=True)
class CameraParams:
    """A camera. Noise levels are in linear camera values in [0, 1].

    scale: HR : LR ratio.
    blur_sigma: std of the isotropic Gaussian PSF in HR pixels, applied in linear light (0 = none).
    downsample: resize mode of the sensor sampling (`degradations.resize.MODES`; "area" integrates).
    photons: photons per unit of linear signal (> 0); the shot-noise variance is x / photons.
    read_std: std of the signal-independent read noise.
    isp: "chen_phone" (Chen et al. 2021's fixed colour matrix and white balance, gamma 2.2) or "srgb"
        (identity colour, gamma 2.2, smoothstep tone curve).
    jpeg_quality: 1..100, or 0 for 8-bit PNG-like rounding without JPEG.
    jpeg_subsampling: "420", "422" or "444".
    """
    scale: int = 2
    blur_sigma: float = 0.6
    downsample: str = "area"
    photons: float = 40.0
    read_std: float = 0.02
    isp: str = "chen_phone"
    jpeg_quality: int = 90
    jpeg_subsampling: str = "420"

    def __post_init__(self):
        if self.scale < 1:
            raise UserError(f"camera scale must be >= 1, got {self.scale}")
        if self.downsample not in MODES:
            raise UserError(f"camera downsample must be one of {', '.join(MODES)}, got {self.downsample!r}")
        if self.isp not in ISPS:
            raise UserError(f"camera isp must be one of {', '.join(ISPS)}, got {self.isp!r}")
        if self.blur_sigma < 0 or self.photons <= 0 or self.read_std < 0:
            raise UserError("camera photons must be > 0, blur_sigma and read_std >= 0")
        if not 0 <= self.jpeg_quality <= 100:
            raise UserError(f"camera jpeg_quality must be in 0..100 (0 = no JPEG), got {self.jpeg_quality}")

    @classmethod
    def from_dict(cls, values: dict) -> "CameraParams":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise UserError(f"camera: unknown parameter {unknown[0]!r}; known: {', '.join(sorted(known))}")
        return cls(**values)

    def as_dict(self) -> dict:
        return asdict(self)


class Camera:
    """Callable like a `degradations.Pipeline`: `camera(hr, generator)` with a CPU generator; has `.scale`, `.name`."""

    def __init__(self, params: CameraParams = CameraParams(), name: str = "camera"):
        self.params, self.name = params, name
        self.scale = params.scale

    def __call__(self, hr: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """(B, 3, H, W) sRGB in [0, 1] -> (B, 3, H // scale, W // scale) in [0, 1], 8-bit values."""
        p = self.params
        b, _, h, w = hr.shape
        device_seed = int(torch.randint(0, 2 ** 62, (), generator=generator))
        noise_generator = torch.Generator(device=hr.device).manual_seed(device_seed)
        isp_params = ISPS[p.isp](batch=b).to(hr.device)
        x = isp.unprocess(hr.float(), isp_params)
        if p.blur_sigma > 0:
            size = 2 * math.ceil(3 * p.blur_sigma) + 1
            x = blur(x, gaussian_kernel(size, p.blur_sigma))
        x = resize(x, size=(h // p.scale, w // p.scale), mode=p.downsample).clamp(0, 1)
        x = poisson_gaussian_noise(x, 1.0 / p.photons, p.read_std ** 2, generator=noise_generator)
        x = isp.process(x, isp_params)
        if p.jpeg_quality > 0:
            return jpeg(x, p.jpeg_quality, p.jpeg_subsampling)
        return quantize(x)

    def __repr__(self) -> str:
        return f"Camera({self.params})"
