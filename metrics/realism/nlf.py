"""The noise-level function of an image set, without pairs: noise std per channel as a function of intensity.

    nlf = estimate_nlf(images)            # images: list of (3, H, W) in [0, 1]
    a_b = fit_variance_line(nlf)          # (3, 2): std^2 = a * intensity + b per channel
    nlf_distance(nlf, other)              # RMS difference of the std curves, 8-bit units

The estimator follows two published ones, simplified (cited by step):
- Foi, Trimeche, Katkovnik, Egiazarian, "Practical Poissonian-Gaussian noise modeling and fitting for single-image
  raw-data", IEEE TIP 17(10), 2008: the observation model z = y + sigma(y) xi with sigma^2(y) = a y + b; local
  (expectation, std) pairs from the finest wavelet detail and approximation coefficients on smooth regions,
  gathered in level sets (narrow intensity bins) of the smooth image, then a maximum-likelihood fit of the variance
  curve (their code: function_ClipPoisGaus_stdEst2D, http://www.cs.tut.fi/~foi/sensornoise.html). Simplified: the
  diagonal Haar sub-band (metrics.noise.haar_diagonal) instead of their Daubechies detail, a patch mean as the
  expectation, one robust std (MAD, then trimmed RMS) per bin pooled over the bin's patches, and a weighted
  least-squares fit of the bins' variances (`fit_variance_line`) instead of their maximum-likelihood fit with a
  clipping model.
- Liu, Tanaka, Okutomi, "Single-image noise level estimation for blind denoising", IEEE TIP 22(12), 2013, the
  weak-textured patch selection: a patch is weak-textured when its texture strength, the trace of its gradient
  covariance matrix, is below tau = sigma^2 * F^-1(confidence; r / 2, 2 tr(D^T D) / r), the gamma quantile of the
  texture strength of a flat patch under white noise of variance sigma^2 (D the stacked derivative operators, r
  their rank); estimate, select, re-estimate, as the authors' NoiseLevel.m (version 20150203: trace, central
  differences [-1/2, 0, 1/2] inside the patch, confidence 1 - 1e-6, 3 iterations). Simplified: non-overlapping
  patches, sigma per intensity bin instead of one per channel (the noise is signal dependent), the noise estimate
  is the robust Haar std above rather than their smallest eigenvalue of the patch covariance, and the gradients are
  those of the patch minus its least-squares plane (the Haar diagonal cancels planes, so smooth ramps such as a sky
  count as flat), with the noise variance floored at the 1/12 8-bit^2 of rounding in the threshold.

Patches holding a clipped value (0 or 1) are left out: clipping truncates the noise (Foi et al., "Clipped noisy
images: heteroskedastic modeling and practical denoising", Signal Processing 2009); near 0 and 1 the estimate is
therefore low (`fit_variance_line` leaves those bins out). On 8-bit images the rounding (std 0.29 level) is part of
the measured noise: clean 8-bit photos read about 0.3 to 0.4. Spatially correlated noise (demosaicking, JPEG) shows
at this finest scale only in part, as in every finest-scale estimator.
"""
from dataclasses import dataclass
from functools import lru_cache

import torch
from scipy.stats import gamma

from metrics.noise import MAD_TO_STD, haar_diagonal

PATCH = 8                   # patch side in pixels (even: its 2x2 Haar blocks stay inside it)
CONFIDENCE = 1 - 1e-6       # Liu et al.'s threshold confidence (their code's default)
ITERATIONS = 3              # selection rounds after the first estimate from all patches
MIN_SAMPLES = 256           # Haar coefficients a bin needs for a std (16 patches of 8 x 8)
TRIM = 3.0                  # robust std: the RMS of the coefficients within TRIM stds of 0
ROUNDING_VARIANCE = 1 / 12  # 8-bit^2: the variance of 8-bit rounding, a floor of the noise in the texture test
CLIP_MARGIN = 3.0           # stds from 0 and 1 within which a bin's noise is truncated by clipping


@dataclass
class NoiseLevelFunction:
    """intensity: (K,) bin centres in [0, 1]; std: (3, K) noise std per channel and bin in 8-bit units, NaN where a
    bin had fewer than MIN_SAMPLES noise samples; count: (3, K) the noise samples (diagonal Haar coefficients, a
    quarter of the pixels of the selected patches) behind each std; mean_intensity: (3, K) the mean intensity in
    [0, 1] of those samples' patches, NaN where std is NaN (None: the bin centres)."""
    intensity: torch.Tensor
    std: torch.Tensor
    count: torch.Tensor
    mean_intensity: torch.Tensor | None = None


@lru_cache
def _plane_basis(patch: int) -> torch.Tensor:
    """(patch^2, 3) orthonormal basis of the planes a + b row + c column on a patch x patch grid."""
    row, column = torch.meshgrid(*(torch.arange(patch, dtype=torch.float64),) * 2, indexing="ij")
    planes = torch.stack([torch.ones_like(row), row, column], dim=-1).reshape(-1, 3)
    return torch.linalg.qr(planes).Q


def detrended_gradients(blocks: torch.Tensor) -> torch.Tensor:
    """(..., P, P) -> (..., 2 P (P - 2)): the central differences [-1/2, 0, 1/2] inside each patch, horizontal then
    vertical, of the patch minus its least-squares plane. The diagonal Haar detail cancels planes, so a smooth
    ramp (a sky) is no texture for this estimator; Liu et al. take the gradients of the patch itself."""
    patch = blocks.shape[-1]
    basis = _plane_basis(patch).to(blocks)
    flat = blocks.flatten(-2)
    residual = (flat - flat @ basis @ basis.T).unflatten(-1, (patch, patch))
    horizontal = (residual[..., :, 2:] - residual[..., :, :-2]) / 2
    vertical = (residual[..., 2:, :] - residual[..., :-2, :]) / 2
    return torch.cat([horizontal.flatten(-2), vertical.flatten(-2)], dim=-1)


@lru_cache
def flat_patch_threshold(patch: int = PATCH, confidence: float = CONFIDENCE) -> float:
    """tau / sigma^2 of Liu et al. 2013 for a patch x patch patch: the `confidence` quantile of the texture strength
    (the squared norm of `detrended_gradients`, the trace of their covariance matrix) of white noise of unit
    variance, gamma-approximated as theirs: shape r / 2, scale 2 tr(M) / r, M the quadratic form, r its rank."""
    operator = detrended_gradients(torch.eye(patch * patch, dtype=torch.float64).reshape(-1, patch, patch)).T
    form = operator.T @ operator
    rank = int(torch.linalg.matrix_rank(form))
    return float(gamma.ppf(confidence, rank / 2, scale=2 * float(form.trace()) / rank))


def patch_statistics(img: torch.Tensor, patch: int = PATCH) -> tuple[torch.Tensor, ...]:
    """(3, H, W) in [0, 1] -> per channel and non-overlapping patch (N of them): mean intensity (3, N) in [0, 1],
    texture strength (3, N) in 8-bit^2 units, diagonal Haar coefficients (3, N, patch^2 / 4) in 8-bit units, and
    (3, N) True where the patch holds no clipped value."""
    x = img.double() * 255
    c, h, w = x.shape
    blocks = x[:, : h // patch * patch, : w // patch * patch].unfold(1, patch, patch).unfold(2, patch, patch)
    blocks = blocks.reshape(c, -1, patch, patch)
    texture = detrended_gradients(blocks).square().sum(-1)
    diagonal = haar_diagonal(blocks.flatten(0, 1)).reshape(c, blocks.shape[1], -1)
    unclipped = ((blocks > 0) & (blocks < 255)).flatten(2).all(dim=2)
    return blocks.mean((-1, -2)) / 255, texture, diagonal, unclipped


def robust_std(samples: torch.Tensor) -> float:
    """The std of zero-mean samples, robust to a few outliers (edges left in weak-textured patches): the MAD estimate
    (median |d| / 0.6745), then twice the RMS of the samples within TRIM of that std of 0, divided by the second
    moment of a unit Gaussian truncated at +-TRIM. Unlike the MAD alone it is continuous on quantised data (the
    median of 8-bit Haar coefficients moves in steps of 0.5 level) and has about 95 % rather than 37 % of the
    efficiency of the plain RMS on Gaussian noise."""
    a = samples.abs().double()
    std = max(float(a.median()) / MAD_TO_STD, 1.0)  # 8-bit units: on 8-bit data the MAD is 0 below ~1 level
    normal = torch.distributions.Normal(0.0, 1.0)
    truncated = 1 - 2 * TRIM * normal.log_prob(torch.tensor(TRIM)).exp() / (2 * normal.cdf(torch.tensor(TRIM)) - 1)
    for _ in range(2):
        if std == 0:
            return 0.0
        std = float((a[a <= TRIM * std].square().mean() / truncated).sqrt())
    return std


def _binned_std(diagonal: torch.Tensor, bin_of: torch.Tensor, chosen: torch.Tensor, bins: int,
                min_samples: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One channel: robust std (K,) (8-bit, NaN under min_samples) and sample count (K,) of the chosen patches'
    coefficients per bin. diagonal (N, q), bin_of (N,) long, chosen (N,) bool."""
    std = torch.full((bins,), float("nan"), dtype=torch.float64)
    count = torch.zeros(bins, dtype=torch.long)
    for k in range(bins):
        samples = diagonal[chosen & (bin_of == k)].flatten()
        count[k] = samples.numel()
        if samples.numel() >= min_samples:
            std[k] = robust_std(samples)
    return std, count


def estimate_nlf(images: list[torch.Tensor], bins: int = 16, min_samples: int = MIN_SAMPLES) -> NoiseLevelFunction:
    """The noise-level function of a set of (3, H, W) images in [0, 1] (sizes may differ), from their weak-textured
    patches (module docstring): per channel, patches are binned by their mean intensity into `bins` equal bins of
    [0, 1]; each bin's std is the robust std of its patches' diagonal Haar coefficients, first over all patches,
    then over those whose texture strength is below Liu et al.'s threshold for that bin's std, ITERATIONS times."""
    stats = [patch_statistics(img) for img in images]
    level, texture, diagonal, unclipped = (torch.cat([s[i] for s in stats], dim=1) for i in range(4))
    tau = flat_patch_threshold()
    bin_of = (level * bins).floor().long().clamp(0, bins - 1)
    channels = level.shape[0]
    std = torch.empty(channels, bins, dtype=torch.float64)
    count = torch.empty(channels, bins, dtype=torch.long)
    mean_intensity = torch.full((channels, bins), float("nan"), dtype=torch.float64)
    for c in range(channels):
        chosen = unclipped[c]
        std[c], count[c] = _binned_std(diagonal[c], bin_of[c], chosen, bins, min_samples)
        for _ in range(ITERATIONS):
            noise_variance = std[c][bin_of[c]].square().clamp(min=ROUNDING_VARIANCE)  # NaN bins: no patch
            chosen = unclipped[c] & (texture[c] <= tau * noise_variance)
            std[c], count[c] = _binned_std(diagonal[c], bin_of[c], chosen, bins, min_samples)
        for k in range(bins):
            if std[c, k].isfinite():
                mean_intensity[c, k] = level[c][chosen & (bin_of[c] == k)].mean()
    centres = (torch.arange(bins, dtype=torch.float64) + 0.5) / bins
    return NoiseLevelFunction(centres, std, count, mean_intensity)


def _nonnegative_line(x: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> tuple[float, float]:
    """Weighted least squares y = a x + b with a, b >= 0: the free optimum if it is feasible, else the better of
    the two boundary fits (a = 0 or b = 0), where the constrained optimum of a convex quadratic then lies."""
    design = torch.stack([x, torch.ones_like(x)], dim=1)
    if len(x) >= 2 and float(x.max() - x.min()) > 0:
        root_w = w.sqrt()[:, None]
        a, b = torch.linalg.lstsq(design * root_w, y[:, None] * root_w).solution.flatten().tolist()
        if a >= 0 and b >= 0:
            return a, b
    candidates = [(0.0, float((w * y).sum() / w.sum()))]
    if float((w * x * x).sum()) > 0:
        candidates.append((max(0.0, float((w * x * y).sum() / (w * x * x).sum())), 0.0))
    return min(candidates, key=lambda ab: float((w * (y - ab[0] * x - ab[1]).square()).sum()))


def fit_variance_line(nlf: NoiseLevelFunction) -> torch.Tensor:
    """(3, 2) per channel (a, b) with std^2 = a * intensity + b, intensity in [0, 1] and std^2 in 8-bit^2 units (so
    a = 255^2 * a' and b = 255^2 * b' for a variance line a' x + b' in [0, 1]^2 units); a, b >= 0. Weighted least
    squares of the valid bins' variances at their mean intensity, iteratively reweighted by count / fitted
    variance^2 (the inverse variance of a sample variance: 2 sigma^4 / n). Bins whose mean intensity lies within
    CLIP_MARGIN of their std from 0 or 1 are left out when others remain: there, leaving out the patches that hold
    a clipped value keeps those with smaller noise draws (a Gaussian truncated at 3 std is 0.7 % narrower, at 2
    std 6 %). NaN for a channel without valid bins."""
    out = torch.full((nlf.std.shape[0], 2), float("nan"), dtype=torch.float64)
    levels = nlf.mean_intensity if nlf.mean_intensity is not None else nlf.intensity.expand_as(nlf.std)
    for c in range(nlf.std.shape[0]):
        valid = nlf.std[c].isfinite() & levels[c].isfinite() & (nlf.count[c] > 0)
        margin = CLIP_MARGIN * nlf.std[c] / 255
        unclipped = valid & (levels[c] - margin > 0) & (levels[c] + margin < 1)
        valid = unclipped if unclipped.any() else valid
        if not valid.any():
            continue
        x, y, n = levels[c][valid].double(), nlf.std[c][valid].double().square(), nlf.count[c][valid].double()
        a, b = _nonnegative_line(x, y, n)
        for _ in range(3):
            fitted = (a * x + b).clamp(min=max(1e-3 * float(y.max()), 1e-12))
            a, b = _nonnegative_line(x, y, n / fitted.square())
        out[c] = torch.tensor([a, b], dtype=torch.float64)
    return out


def missing_variance_line(real: list[torch.Tensor], own: list[torch.Tensor]) -> torch.Tensor:
    """(3, 2) per channel (a, b), 8-bit^2 units as fit_variance_line: the noise variance line of the `real` images
    minus that of the `own` images (a channel where `own` has no valid bin counts as 0), clipped at 0: what noise
    added to images like `own` must have so that their estimate follows `real`'s line, since independent variances
    add. NaN in a channel where `real` has no valid bin."""
    real_line, own_line = (fit_variance_line(estimate_nlf(images)) for images in (real, own))
    return (real_line - own_line.nan_to_num(0.0)).clamp(min=0)


def nlf_distance(a: NoiseLevelFunction, b: NoiseLevelFunction) -> float:
    """RMS difference of the std curves (8-bit units) over the (channel, bin) entries valid in both; NaN if none.
    Both must use the same bins."""
    if a.intensity.shape != b.intensity.shape or not torch.allclose(a.intensity.double(), b.intensity.double()):
        raise ValueError(f"noise-level functions on different bins: {a.intensity.numel()} vs {b.intensity.numel()}")
    both = a.std.isfinite() & b.std.isfinite()
    if not both.any():
        return float("nan")
    return float((a.std[both].double() - b.std[both].double()).square().mean().sqrt())
