"""Domain-invariant functions h: what the flow is conditioned on. DeFlow's h is bicubic downsampling plus
Gaussian noise (`LR_noise_std` of the official configs), fed to the RRDB encoder at train and test time.

An h is one class registered in H_FUNCTIONS whose constructor takes the downsampling `factor` (always the
network's `scale`) and its own keyword arguments (the keys of `network_g.h`), with two methods:

    h.downsample(x)         deterministic, full image (B, C, H, W) -> conditioning image (B, C, H / factor, W / factor)
    h.perturb(lr, generator)  the random part, applied inside the net at train and test time

`conditioning_image(h, x)` is the one way a conditioning image is made: dataset creation writes it, the model
computes it when translating. The net draws `perturb` once per image and reuses it for the encode and the
decode of a translation, so both see the same draw.

The registered h's: noise.py masks what differs between the domains with noise (bicubic_noise, DeFlow's;
additive_noise, multiplicative_noise, maxpool_noise); denoise.py removes it with an OpenCV filter before the bicubic
downsampling (gaussian_denoise, median_denoise, bilateral_denoise); dae.py learns the filter (dae, a denoising
autoencoder trained on both domains through the trainer, then frozen); chroma.py blurs the chroma alone and masks
luma and chroma with noise of their own (chroma_blur_noise).
"""
import torch

from deflow.errors import UserError
from deflow.flow.h.chroma import ChromaBlurNoise
from deflow.flow.h.dae import DAEDenoise, DenoisingAutoencoder
from deflow.flow.h.denoise import BilateralDenoise, GaussianDenoise, MedianDenoise
from deflow.flow.h.noise import AdditiveNoise, BicubicNoise, MaxPoolNoise, MultiplicativeNoise
from deflow.registry import H_FUNCTIONS
from deflow.schema import REQUIRED, Key, signature_schema, validate

__all__ = ["AdditiveNoise", "BicubicNoise", "BilateralDenoise", "ChromaBlurNoise", "DAEDenoise", "DenoisingAutoencoder",
           "GaussianDenoise", "MaxPoolNoise", "MedianDenoise", "MultiplicativeNoise", "build_h", "conditioning_image"]


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
