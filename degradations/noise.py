"""Additive and signal-dependent noise. Every function returns x plus noise, unclamped.

Shapes: x is (B, C, H, W); per-sample parameters are a float (whole batch) or a (B,) tensor.
`generator` is a torch.Generator on x's device, or None for torch's global one.
"""
import torch

Param = float | torch.Tensor

# ITU-R BT.601 full-range (JFIF) YCbCr -> RGB: how a unit of Cb / Cr moves R, G, B.
_CHROMA_TO_RGB = ((0.0, 1.402), (-0.344136, -0.714136), (1.772, 0.0))
# ITU-R BT.601 luma weights.
_LUMA = (0.299, 0.587, 0.114)


def _per_sample(value: Param, x: torch.Tensor) -> torch.Tensor:
    """A float or (B,) -> (B, 1, 1, 1) on x's device and dtype."""
    return torch.as_tensor(value, dtype=x.dtype, device=x.device).reshape(-1, 1, 1, 1).expand(x.shape[0], 1, 1, 1)


def _randn(x: torch.Tensor, channels: int, generator) -> torch.Tensor:
    b, _, h, w = x.shape
    return torch.randn((b, channels, h, w), generator=generator, device=x.device, dtype=x.dtype)


def luma(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB -> (B, 1, H, W) BT.601 luma."""
    weights = torch.tensor(_LUMA, dtype=x.dtype, device=x.device).reshape(1, 3, 1, 1)
    return (x * weights).sum(dim=1, keepdim=True)


def _gray_flags(gray: bool | torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(gray, device=x.device).reshape(-1).expand(x.shape[0])


def gaussian_noise(x: torch.Tensor, sigma: Param, gray: bool | torch.Tensor = False, generator=None) -> torch.Tensor:
    """x + N(0, sigma^2), sigma in [0, 1] units; `gray` (bool or (B,) bool) draws one noise plane
    shared by all channels."""
    n = _randn(x, x.shape[1], generator)
    n = torch.where(_gray_flags(gray, x).reshape(-1, 1, 1, 1), n[:, :1].expand_as(n), n)
    return x + n * _per_sample(sigma, x)


def _levels(x: torch.Tensor) -> torch.Tensor:
    """Real-ESRGAN's Poisson rate: 2^ceil(log2(number of distinct 8-bit values)) per image, (B, 1, 1, 1)."""
    b = x.shape[0]
    q = torch.clamp(torch.round(x * 255), 0, 255).long().reshape(b, -1)
    q = q + 256 * torch.arange(b, device=x.device)[:, None]
    counts = (torch.bincount(q.flatten(), minlength=256 * b).reshape(b, 256) > 0).sum(dim=1)
    return counts.to(x.dtype).log2().ceil().exp2().reshape(-1, 1, 1, 1)


def poisson_noise(x: torch.Tensor, scale: Param = 1.0, gray: bool | torch.Tensor = False, generator=None,
                  levels: Param | None = None) -> torch.Tensor:
    """Shot noise as in Real-ESRGAN: x + scale * (Poisson(x * L) / L - x).

    The noise std is scale * sqrt(x / L). `levels` L defaults to Real-ESRGAN's rule (next power of two
    of the number of distinct 8-bit values in each image); `gray` (bool or (B,) bool) draws the noise on
    the BT.601 luma and shares it across channels.
    """
    x0 = x.clamp(0, 1)
    lv = _levels(x0) if levels is None else _per_sample(levels, x)
    is_gray = _gray_flags(gray, x)
    n = torch.empty_like(x0)
    for flag, signal in ((False, x0), (True, luma(x0))):
        pick = is_gray == flag
        if pick.any():
            s, rate = signal[pick], lv[pick]
            n[pick] = torch.poisson(s * rate, generator=generator) / rate - s
    return x + n * _per_sample(scale, x)


def poisson_gaussian_noise(x: torch.Tensor, shot: Param, read: Param, generator=None) -> torch.Tensor:
    """Sensor noise in linear space: Poisson(x / shot) * shot + N(0, read).

    Variance is x * shot + read (Brooks et al. 2019's heteroscedastic model); `shot` is the variance per
    unit of signal, `read` the signal-independent variance. x >= 0 (linear raw values).
    """
    shot_t = _per_sample(shot, x)
    photons = torch.poisson(x.clamp(min=0) / shot_t, generator=generator) * shot_t
    return photons + _randn(x, x.shape[1], generator) * _per_sample(read, x).sqrt()


def heteroscedastic_gaussian_noise(x: torch.Tensor, slope: Param, floor: Param, generator=None) -> torch.Tensor:
    """x + N(0, slope * x + floor) per pixel: the Gaussian approximation of Poisson-Gaussian noise (Foi et al.,
    IEEE TIP 2008), in [0, 1]^2 units; the variance uses x clamped to [0, 1]. slope and floor: a float, (B,), or
    (B, C) for one value per image and channel."""
    b, c = x.shape[:2]

    def per_channel(value: Param) -> torch.Tensor:
        t = torch.as_tensor(value, dtype=x.dtype, device=x.device)
        return t.reshape(b, c, 1, 1) if t.dim() == 2 else t.reshape(-1, 1, 1, 1).expand(b, c, 1, 1)

    variance = (per_channel(slope) * x.clamp(0, 1) + per_channel(floor)).clamp(min=0)
    return x + _randn(x, c, generator) * variance.sqrt()


def speckle_noise(x: torch.Tensor, sigma: Param, generator=None) -> torch.Tensor:
    """Multiplicative noise: x * (1 + N(0, sigma^2)); std sigma * x."""
    return x + x * _randn(x, x.shape[1], generator) * _per_sample(sigma, x)


def chroma_noise(x: torch.Tensor, sigma: Param, generator=None) -> torch.Tensor:
    """Gaussian noise of std sigma on the Cb and Cr channels of BT.601 full-range YCbCr; luma untouched.

    x: (B, 3, H, W) RGB.
    """
    mix = torch.tensor(_CHROMA_TO_RGB, dtype=x.dtype, device=x.device)
    n = _randn(x, 2, generator) * _per_sample(sigma, x)
    return x + torch.einsum("rc,bchw->brhw", mix, n)


def correlated_noise(x: torch.Tensor, sigma: Param, generator=None) -> torch.Tensor:
    """RGB noise with a random channel covariance sigma^2 Q diag(d) Q^T per image (Q a random rotation,
    d ~ U(0, 1)^3), as BSRGAN's channel-correlated noise. x: (B, 3, H, W)."""
    b = x.shape[0]
    q, _ = torch.linalg.qr(torch.randn((b, 3, 3), generator=generator, device=x.device, dtype=x.dtype))
    d = torch.rand((b, 3), generator=generator, device=x.device, dtype=x.dtype)
    mix = q * d.sqrt()[:, None, :]
    n = torch.einsum("brc,bchw->brhw", mix, _randn(x, 3, generator))
    return x + n * _per_sample(sigma, x)
