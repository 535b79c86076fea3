"""Domain-invariant functions h: what the flow is conditioned on. DeFlow's h is bicubic downsampling plus
Gaussian noise (`LR_noise_std` of the official configs), fed to the RRDB encoder at train and test time.

An h is one class registered in H_FUNCTIONS whose constructor takes the downsampling `factor` (always the
network's `scale`) and its own keyword arguments (the keys of `network_g.h`), with two methods:

    h.downsample(x)         deterministic, full image (B, C, H, W) -> conditioning image (B, C, H / factor, W / factor)
    h.perturb(lr, generator)  the random part, applied inside the net at train and test time

`conditioning_image(h, x)` is the one way a conditioning image is made: dataset creation writes it, the model
computes it when translating. The net draws `perturb` once per image and reuses it for the encode and the
decode of a translation, so both see the same draw.
"""
import torch

from deflow.errors import UserError
from deflow.registry import H_FUNCTIONS
from deflow.schema import REQUIRED, Key, signature_schema, validate
from degradations.resize import imresize


def build_h(section: dict, factor: int):
    """The h of a `network_g.h` section {type: registered name, ...its constructor's keys but factor}."""
    if not isinstance(section, dict) or "type" not in section:
        raise UserError(f"network_g.h.type: required key missing (a registered h: {', '.join(H_FUNCTIONS.names())})")
    cls = H_FUNCTIONS.get(section["type"])
    schema = {"type": Key(str, REQUIRED, "registered h"), **signature_schema(cls, skip=("self", "factor"))}
    options = validate(section, schema, "network_g.h.")
    del options["type"]
    return cls(factor=factor, **options)


def conditioning_image(h, image: torch.Tensor) -> torch.Tensor:
    """h.downsample(image) rounded to 8 bit, as dataset creation writes it: (B, C, H, W) -> (B, C, H / f, W / f)."""
    return h.downsample(image).clamp(0, 1).mul(255).round().div(255)


@H_FUNCTIONS.register("bicubic_noise")
class BicubicNoise:
    """h(x) = bicubic_down(x, factor) + N(0, noise_std^2), MATLAB-style bicubic with antialiasing.

    Args:
        factor: downsampling factor (8 for AIM, 4 for NTIRE and DPED).
        noise_std: std of the added noise in [0, 1] units (DeFlow's `LR_noise_std`, 0.03).
    """

    def __init__(self, factor: int = 8, noise_std: float = 0.03):
        self.factor = factor
        self.noise_std = noise_std

    def downsample(self, x: torch.Tensor) -> torch.Tensor:
        """(..., H, W) -> (..., H / factor, W / factor); H and W divisible by factor (a per-axis scale of exactly
        1 / factor)."""
        return imresize(x, size=(x.shape[-2] // self.factor, x.shape[-1] // self.factor))

    def perturb(self, lr: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        noise = torch.randn(lr.shape, generator=generator, dtype=lr.dtype, device=lr.device)
        return lr + self.noise_std * noise
