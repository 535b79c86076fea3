"""Spatial correlation of noise: the radially averaged power spectrum of high-pass residuals.

The residual of an image is what a 3x3 box blur removes (the same high pass as the C2ST's first layer), per channel,
with its mean removed: mostly noise, compression and fine texture. White noise gives a residual spectrum rising
towards 0.5 cycles/pixel (the shape of the high pass, |1 - box(f)|^2); noise correlated across pixels (demosaicking,
JPEG, a blur after the noise) has less power at high frequencies. The periodogram is |FFT|^2 / (H W) of the residual
in 8-bit units, so its mean over all frequencies is the residual's variance (Parseval), and it is averaged over
channels and images within rings of equal radial frequency sqrt(fx^2 + fy^2), 0 to 0.5 cycles/pixel (the zero
frequency and the corners beyond 0.5 left out). Images of any sizes can be mixed.
"""
import torch
import torch.nn.functional as F


def high_pass_residual(image: torch.Tensor) -> torch.Tensor:
    """(3, H, W) in [0, 1] -> (3, H, W) in 8-bit units: image minus its 3x3 box blur (replicate padding), each
    channel's mean removed."""
    residual = image - F.avg_pool2d(F.pad(image[None], (1, 1, 1, 1), mode="replicate"), 3, stride=1)[0]
    residual = 255.0 * residual.double()
    return residual - residual.mean(dim=(-2, -1), keepdim=True)


def _radial_bins(height: int, width: int, bins: int) -> torch.Tensor:
    """(H, W) bin index of each FFT frequency by its radius in cycles/pixel; -1 for f = 0 and radii beyond 0.5."""
    fy, fx = torch.fft.fftfreq(height, dtype=torch.float64), torch.fft.fftfreq(width, dtype=torch.float64)
    radius = (fy[:, None] ** 2 + fx[None, :] ** 2).sqrt()
    index = (radius / 0.5 * bins).floor().long().clamp(max=bins - 1)
    index[(radius == 0) | (radius > 0.5)] = -1
    return index


def residual_spectrum(images: list[torch.Tensor] | torch.Tensor, bins: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """(frequency (bins,), power (bins,)) float64: ring centres in cycles/pixel and the mean residual periodogram
    in 8-bit units^2 per ring, averaged over the channels and the images ((3, H, W) each, or (N, 3, H, W)) that
    have frequencies in the ring; NaN for a ring no image reaches (images smaller than 2 * bins px)."""
    total, count = torch.zeros(bins, dtype=torch.float64), torch.zeros(bins, dtype=torch.float64)
    for image in images:
        residual = high_pass_residual(image.detach().cpu())
        height, width = residual.shape[-2:]
        power = (torch.fft.fft2(residual).abs() ** 2 / (height * width)).mean(0)
        index = _radial_bins(height, width, bins).flatten()
        keep = index >= 0
        ring_sum = torch.bincount(index[keep], weights=power.flatten()[keep], minlength=bins)
        ring_size = torch.bincount(index[keep], minlength=bins)
        reached = ring_size > 0
        total[reached] += ring_sum[reached] / ring_size[reached]
        count[reached] += 1
    if not count.any():
        raise ValueError("residual_spectrum needs at least one image")
    frequency = (torch.arange(bins, dtype=torch.float64) + 0.5) * 0.5 / bins
    return frequency, torch.where(count > 0, total / count.clamp(min=1), torch.nan)


def spectrum_distance(a: tuple[torch.Tensor, torch.Tensor], b: tuple[torch.Tensor, torch.Tensor]) -> float:
    """Mean |log10(power_a / power_b)| over the rings where both spectra (from `residual_spectrum` with the same
    bins) are positive: 0 for equal spectra, 0.3 for a factor 2 everywhere. NaN when no ring is shared."""
    (freq_a, power_a), (freq_b, power_b) = a, b
    if freq_a.shape != freq_b.shape or not torch.allclose(freq_a, freq_b):
        raise ValueError("spectra must share their frequency bins (the same `bins`)")
    valid = (power_a > 0) & (power_b > 0)
    if not valid.any():
        return float("nan")
    return float((power_a[valid] / power_b[valid]).log10().abs().mean())


def detail_transfer(degraded: list[torch.Tensor], clean: list[torch.Tensor], bins: int = 10
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """(frequency (bins,), transfer (bins,)) float64: how much of the clean images' detail each ring of radial
    frequency keeps in their degraded versions (pairs, (3, H, W) each, the same sizes):
    Re sum F(degraded) conj(F(clean)) / sum |F(clean)|^2 over the ring, channels and images, means removed. A
    linear blur with frequency response H(f) gives H(f); noise independent of the clean image averages out; 1 is
    detail kept as it is, > 1 detail amplified. Rings no image reaches are NaN."""
    cross, power = torch.zeros(bins, dtype=torch.float64), torch.zeros(bins, dtype=torch.float64)
    for d, c in zip(degraded, clean, strict=True):
        if d.shape != c.shape:
            raise ValueError(f"detail_transfer needs pairs of one size, got {tuple(d.shape)} and {tuple(c.shape)}")
        fd, fc = (torch.fft.fft2(x.double() - x.double().mean((-2, -1), keepdim=True)) for x in (d.cpu(), c.cpu()))
        index = _radial_bins(*c.shape[-2:], bins).flatten()
        keep = index >= 0
        cross += torch.bincount(index[keep], weights=(fd * fc.conj()).real.mean(0).flatten()[keep], minlength=bins)
        power += torch.bincount(index[keep], weights=fc.abs().square().mean(0).flatten()[keep], minlength=bins)
    frequency = (torch.arange(bins, dtype=torch.float64) + 0.5) * 0.5 / bins
    return frequency, torch.where(power > 0, cross / power.clamp(min=1e-300), torch.nan)
