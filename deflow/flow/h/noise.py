"""The h's that mask what differs between the domains with noise: DeFlow's bicubic_noise and its variants.

perturb(lr, generator) draws everything from `generator` (bit-identical for a seed); lr is (B, C, h, w).
"""
import torch
import torch.nn.functional as F

from deflow.errors import UserError
from deflow.registry import H_FUNCTIONS
from degradations.noise import gaussian_noise, speckle_noise
from degradations.resize import imresize


def bicubic_down(x: torch.Tensor, factor: int) -> torch.Tensor:
    """(..., H, W) -> (..., H / factor, W / factor) by MATLAB's antialiased bicubic; H and W divisible by factor
    (a per-axis scale of exactly 1 / factor)."""
    return imresize(x, size=(x.shape[-2] // factor, x.shape[-1] // factor))


@H_FUNCTIONS.register("bicubic_noise")
class BicubicNoise:
    """Removes the detail finer than `factor` and masks what differs below it with Gaussian noise, keeping the
    low-pass image: h(x) = bicubic_down(x, factor) + N(0, noise_std^2), DeFlow's h.

    Args:
        factor: downsampling factor (8 for AIM, 4 for NTIRE and DPED).
        noise_std: std of the added noise in [0, 1] units (DeFlow's `LR_noise_std`, 0.03).
    """

    def __init__(self, factor: int = 8, noise_std: float = 0.03):
        self.factor = factor
        self.noise_std = noise_std

    def downsample(self, x: torch.Tensor) -> torch.Tensor:
        return bicubic_down(x, self.factor)

    def perturb(self, lr: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return gaussian_noise(lr, self.noise_std, generator=generator)


@H_FUNCTIONS.register("multiplicative_noise")
class MultiplicativeNoise:
    """Removes the detail finer than `factor` and masks what differs below it with noise proportional to the
    intensity, keeping the shadows nearly exact: h(x) = bicubic_down(x, factor) * (1 + N(0, noise_std^2)).

    For domain gaps that grow with the intensity (shot noise, gain): bicubic_noise masks dark and bright regions
    alike, this h masks the bright ones most and leaves the dark ones, where such a gap is small, legible.

    Args:
        factor: downsampling factor (the network's scale).
        noise_std: std of the relative noise (0.03: 3 % of the intensity, DeFlow's 0.03 at white).
    """

    def __init__(self, factor: int, noise_std: float = 0.03):
        self.factor = factor
        self.noise_std = noise_std

    def downsample(self, x: torch.Tensor) -> torch.Tensor:
        return bicubic_down(x, self.factor)

    def perturb(self, lr: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return speckle_noise(lr, self.noise_std, generator=generator)


@H_FUNCTIONS.register("additive_noise")
class AdditiveNoise:
    """Removes the detail finer than `factor` and masks what differs below it with Gaussian noise of a strength
    drawn per image, keeping the low-pass image: h(x) = bicubic_down(x, factor) + N(0, s^2), s ~ U(noise_std_min,
    noise_std_max) for each image.

    A range of strengths rather than uniform noise U(-w, w): the encoder's convolutions sum many pixels, and sums of
    independent uniform draws are close to Gaussian, so uniform noise would act as bicubic_noise with std w / sqrt(3).
    A per-image strength is a different h: the flow learns p(y | h(x)) over a range of masking, for a domain gap
    whose size varies from image to image (a camera's ISO across a photo collection). For one strength use
    bicubic_noise.

    Args:
        factor: downsampling factor (the network's scale).
        noise_std_min: smallest noise std in [0, 1] units (0.01).
        noise_std_max: largest noise std (0.05; the range is centred on DeFlow's 0.03).
    """

    def __init__(self, factor: int, noise_std_min: float = 0.01, noise_std_max: float = 0.05):
        if not 0 <= noise_std_min < noise_std_max:
            raise UserError(f"network_g.h.noise_std_min, noise_std_max: need 0 <= min < max, got {noise_std_min}, "
                            f"{noise_std_max}; for one noise std use type bicubic_noise")
        self.factor = factor
        self.noise_std_min, self.noise_std_max = noise_std_min, noise_std_max

    def downsample(self, x: torch.Tensor) -> torch.Tensor:
        return bicubic_down(x, self.factor)

    def perturb(self, lr: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        u = torch.rand(lr.shape[0], generator=generator, dtype=lr.dtype, device=lr.device)
        std = self.noise_std_min + (self.noise_std_max - self.noise_std_min) * u
        return gaussian_noise(lr, std, generator=generator)


@H_FUNCTIONS.register("maxpool_noise")
class MaxPoolNoise:
    """Removes all but the brightest value of each factor x factor block, keeping thin bright structure (highlights,
    bright lines) that averaging dims: h(x) = max_pool(x, factor) + N(0, noise_std^2).

    Max-pooling is not invariant to noise: on a flat block, the maximum of factor^2 noisy pixels lies above the clean
    value by noise std times the mean maximum of factor^2 standard normals (1.77 for factor 4), so a noisy domain
    conditions on brighter images than a clean one.

    Args:
        factor: downsampling factor (the network's scale), the pooling kernel and stride.
        noise_std: std of the added noise in [0, 1] units (0.03, DeFlow's).
    """

    def __init__(self, factor: int, noise_std: float = 0.03):
        self.factor = factor
        self.noise_std = noise_std

    def downsample(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(x, self.factor)

    def perturb(self, lr: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return gaussian_noise(lr, self.noise_std, generator=generator)
