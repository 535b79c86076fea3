"""Pipeline operations: the functional API under registered names, with per-sample parameters.

An op is `fn(x, params, ctx) -> x` registered in `deflow.registry.DEGRADATIONS`, carrying
    fn.defaults   {parameter: default}; an int default makes [lo, hi] ranges draw integers,
    fn.per_batch  True for ops that change the image size: one draw (and one `prob` coin) per batch and
                  params[name] is a value; otherwise params[name] is a list with one value per image.
Noise levels named `sigma` are on the 0-255 scale, as papers quote them.
"""
from dataclasses import dataclass

import torch

from deflow.errors import UserError
from deflow.registry import DEGRADATIONS
from degradations import isp, noise, psf
from degradations.blur import blur
from degradations.jpeg import jpeg, quantize
from degradations.kernel_sampling import KERNEL_DEFAULTS, kernel_from_params, stack_kernels
from degradations.resize import MODES, resize


@dataclass
class Context:
    """What a pipeline run shares with its ops: the CPU generator and the HR size and scale."""
    generator: torch.Generator
    hr_size: tuple[int, int]
    scale: float

    @property
    def lr_size(self) -> tuple[int, int]:
        return int(self.hr_size[0] / self.scale), int(self.hr_size[1] / self.scale)

    def uniform(self) -> float:
        return torch.rand((), generator=self.generator, dtype=torch.float64).item()

    def coins(self, probs: list[float]) -> torch.Tensor:
        return torch.tensor([self.uniform() < p for p in probs])

    def device_generator(self, device: torch.device) -> torch.Generator:
        """A generator on `device`, seeded from the CPU generator (reproducible per device)."""
        seed = int(torch.randint(0, 2 ** 62, (), generator=self.generator))
        return torch.Generator(device=device).manual_seed(seed)


def op(name: str, per_batch: bool = False, **defaults):
    def add(fn):
        fn.defaults, fn.per_batch = defaults, per_batch
        return DEGRADATIONS.register(name)(fn)
    return add


def _values(values: list, x: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    return torch.tensor(values, dtype=x.dtype, device=x.device) * scale


def _rows(params: dict) -> list[dict]:
    n = len(next(iter(params.values())))
    return [{k: v[i] for k, v in params.items()} for i in range(n)]


@op("blur", **KERNEL_DEFAULTS)
def blur_op(x, params, ctx):
    """Blur each image with a kernel built from its parameters (see degradations.kernel_sampling)."""
    return blur(x, stack_kernels([kernel_from_params(p) for p in _rows(params)]))


@op("resize", per_batch=True, scale=1.0, relative_to="input", mode="bicubic")
def resize_op(x, params, ctx):
    """Resize to scale x the input size, the HR size ('hr') or the final LR size ('lr')."""
    bases = {"input": tuple(x.shape[-2:]), "hr": ctx.hr_size, "lr": ctx.lr_size}
    if params["relative_to"] not in bases:
        raise UserError(f"resize: relative_to must be one of {', '.join(bases)}, got {params['relative_to']!r}")
    if params["mode"] not in MODES:
        raise UserError(f"resize: mode must be one of {', '.join(MODES)}, got {params['mode']!r}")
    h, w = bases[params["relative_to"]]
    size = (max(1, round(h * params["scale"])), max(1, round(w * params["scale"])))
    return resize(x, size=size, mode=params["mode"])


@op("gaussian_noise", sigma=10.0, gray_prob=0.0)
def gaussian_noise_op(x, params, ctx):
    """Additive Gaussian noise, std sigma / 255; gray (one plane for all channels) with gray_prob."""
    gray = ctx.coins(params["gray_prob"]).to(x.device)
    return noise.gaussian_noise(x, _values(params["sigma"], x, 1 / 255), gray, ctx.device_generator(x.device))


@op("poisson_noise", scale=1.0, gray_prob=0.0)
def poisson_noise_op(x, params, ctx):
    """Real-ESRGAN's Poisson noise with a per-image scale; gray with gray_prob."""
    gray = ctx.coins(params["gray_prob"]).to(x.device)
    return noise.poisson_noise(x, _values(params["scale"], x), gray, ctx.device_generator(x.device))


@op("heteroscedastic_gaussian", slope=50.0, floor=5.0, channel=-1)
def heteroscedastic_gaussian_op(x, params, ctx):
    """Gaussian noise of variance slope * x + floor in 8-bit^2 units (x in [0, 1]), on channel 0, 1 or 2, or on all
    (-1): a noise-level function fitted per channel is one step per channel."""
    channel = torch.tensor(params["channel"], device=x.device)
    if ((channel < -1) | (channel >= x.shape[1])).any():
        raise UserError(f"heteroscedastic_gaussian: channel must be -1 (all) or 0..{x.shape[1] - 1}, "
                        f"got {channel.tolist()}")
    chosen = ((channel[:, None] == -1) | (channel[:, None] == torch.arange(x.shape[1], device=x.device))).to(x.dtype)
    slope, floor = (_values(params[k], x, 1 / 255 ** 2)[:, None] * chosen for k in ("slope", "floor"))
    return noise.heteroscedastic_gaussian_noise(x, slope, floor, ctx.device_generator(x.device))


@op("speckle_noise", sigma=0.1)
def speckle_noise_op(x, params, ctx):
    """Multiplicative noise x * (1 + N(0, sigma^2)), sigma relative."""
    return noise.speckle_noise(x, _values(params["sigma"], x), ctx.device_generator(x.device))


@op("chroma_noise", sigma=10.0)
def chroma_noise_op(x, params, ctx):
    """Gaussian noise on Cb and Cr only, std sigma / 255."""
    return noise.chroma_noise(x, _values(params["sigma"], x, 1 / 255), ctx.device_generator(x.device))


@op("correlated_noise", sigma=10.0)
def correlated_noise_op(x, params, ctx):
    """RGB noise with a random channel covariance (BSRGAN), std up to sigma / 255."""
    return noise.correlated_noise(x, _values(params["sigma"], x, 1 / 255), ctx.device_generator(x.device))


@op("sensor_noise", camera="brooks", shot=None, read=None, mosaic=False, demosaic="bilinear")
def sensor_noise_op(x, params, ctx):
    """Unprocess to linear camera values, add shot + read noise, process back. camera: 'brooks' (random
    camera) or 'chen_phone'; shot / read variances default to Brooks et al.'s joint sampling."""
    gen = ctx.device_generator(x.device)

    def one(img, p):
        if p["camera"] not in ("brooks", "chen_phone"):
            raise UserError(f"sensor_noise: camera must be 'brooks' or 'chen_phone', got {p['camera']!r}")
        cam = isp.sample_isp_params(ctx.generator) if p["camera"] == "brooks" else isp.chen_phone_params()
        shot, read = isp.sample_noise_levels(ctx.generator)
        shot = shot if p["shot"] is None else torch.tensor([p["shot"]])
        read = read if p["read"] is None else torch.tensor([p["read"]])
        return isp.sensor_noise(img, cam.to(img.device), shot, read, gen, bool(p["mosaic"]), p["demosaic"])
    return torch.cat([one(x[i:i + 1], p) for i, p in enumerate(_rows(params))])


@op("jpeg", quality=95, subsampling="420")
def jpeg_op(x, params, ctx):
    """OpenCV JPEG at a per-image quality and chroma subsampling ('420', '422' or '444')."""
    subsampling = [str(s) for s in params["subsampling"]]
    bad = [s for s in subsampling if s not in ("420", "422", "444")]
    if bad:
        raise UserError(f"jpeg: subsampling must be '420', '422' or '444', got {bad[0]!r}")
    return jpeg(x, params["quality"], subsampling)


@op("quantize", bits=8)
def quantize_op(x, params, ctx):
    """Round to 2^bits - 1 levels (clamps to [0, 1])."""
    return quantize(x, torch.tensor(params["bits"]))


@op("psf_blur", per_batch=True, field="radial", grid=5, size=21, sigma_center=0.5, sigma_edge=2.5,
    sigma=0.8, length=6.0)
def psf_blur_op(x, params, ctx):
    """Spatially variant blur with a planted PSF field: 'radial' (Gaussian, std sigma_center ->
    sigma_edge) or 'coma' (core std sigma, tail up to `length` px at the corners) on a grid x grid field, or a
    field file (a path ending in .safetensors, e.g. one fitted by scripts/psf_transfer.py; grid and size unused)."""
    grid, size = (params["grid"], params["grid"]), params["size"]
    if str(params["field"]).endswith(".safetensors"):
        field = psf.load_psf_field(params["field"])[0]
    elif params["field"] == "radial":
        field = psf.radial_gaussian_field(grid, size, params["sigma_center"], params["sigma_edge"])
    elif params["field"] == "coma":
        field = psf.coma_field(grid, size, params["sigma"], params["length"])
    else:
        raise UserError(f"psf_blur: field must be 'radial', 'coma' or a .safetensors file, got {params['field']!r}")
    return psf.apply_psf_field(x, field)
