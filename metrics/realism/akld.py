"""AKLD, the average Kullback-Leibler divergence between the local noise variances of synthetic and real noise.

Defined by Yue et al., "Dual Adversarial Network: Toward Real-world Noise Removal and Generation" (DANet, ECCV 2020;
the noise-generation experiments), public code github.com/zsyOAOA/DANet (utils.py: `get_gausskernel`,
`estimate_sigma_gauss`, `kl_gauss_zero_center`); used by C2N (Jang et al., ICCV 2021) and LUD-VAE (Zheng et al.).
Given a clean image x, a real noisy version y and a synthetic noisy version y' of it, per channel and pixel

    s2      = G * (noisy - clean)^2     G: 7x7 window, outer product of OpenCV's getGaussianKernel(7, -1),
                                        reflect padding, floored at 1e-10
    r       = s2(y') / s2(y)            clamped to [0.1, 10]
    AKLD    = 0.5 * mean(r - 1 - ln r)  KL(N(0, s2(y')) || N(0, s2(y))), averaged

over pixels and channels, then over images (and first over several synthetic samples of one image). 0 means the
synthetic noise has the real noise's local variance everywhere; two independent draws of the same Gaussian noise
already give about 0.04, the floor that the 7x7 window's estimation noise sets.

Units: images in [0, 1], as DANet computes it; the ratio r does not depend on the scale, only the 1e-10 floor does.
"""
import torch
import torch.nn.functional as F

# OpenCV's getGaussianKernel(7, sigma <= 0) is not the sampled Gaussian of sigma 0.3 * ((7 - 1) / 2 - 1) + 0.8 = 1.4
# that its documentation gives: for odd sizes up to 7 it returns a fixed table (small_gaussian_tab in
# opencv/modules/imgproc/src/smooth*.cpp), whose standard deviation is 1.37. DANet calls OpenCV, so this is it.
OPENCV_GAUSSIAN_7 = (0.03125, 0.109375, 0.21875, 0.28125, 0.21875, 0.109375, 0.03125)
VARIANCE_FLOOR = 1e-10
RATIO_RANGE = (0.1, 10.0)


def gaussian_window() -> torch.Tensor:
    """(7, 7) float64: the outer product of OpenCV's getGaussianKernel(7, -1) with itself; sums to 1."""
    g = torch.tensor(OPENCV_GAUSSIAN_7, dtype=torch.float64)
    return g[:, None] * g[None, :]


def window_mean(x: torch.Tensor) -> torch.Tensor:
    """(C, H, W) float32 -> the same: each channel averaged by the 7x7 window, reflect padding (at least 4x4)."""
    window = gaussian_window().float().to(x.device).expand(x.shape[0], 1, 7, 7)
    return F.conv2d(F.pad(x[None], (3, 3, 3, 3), mode="reflect"), window, groups=x.shape[0])[0]


def local_variance(noisy: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
    """Per-pixel local noise variance (C, H, W) float32 in [0, 1]^2 units: the 7x7 window over (noisy - clean)^2 per
    channel, reflect padding, floored at 1e-10. noisy, clean: (C, H, W), at least 4x4."""
    return window_mean((noisy.float() - clean.float()) ** 2).clamp(min=VARIANCE_FLOOR)


def akld_image(fake: torch.Tensor, real: torch.Tensor, clean: torch.Tensor) -> float:
    """AKLD of one image: fake (3, H, W), or (S, 3, H, W) for S synthetic samples of `clean` (averaged); real and
    clean (3, H, W) in [0, 1]."""
    if fake.dim() == 3:
        fake = fake[None]
    if fake.shape[1:] != real.shape or real.shape != clean.shape:
        raise ValueError(f"fake {tuple(fake.shape)}, real {tuple(real.shape)} and clean {tuple(clean.shape)} "
                         "must be the same image size")
    real_variance = local_variance(real, clean)
    total = 0.0
    for sample in fake:
        ratio = (local_variance(sample, clean) / real_variance).clamp(*RATIO_RANGE)
        total += float(0.5 * (ratio - 1 - ratio.log()).mean())
    return total / len(fake)


def akld(fake: list[torch.Tensor], real: list[torch.Tensor], clean: list[torch.Tensor]) -> float:
    """AKLD over images: fake[i] and real[i] are a synthetic and a real noisy version of clean[i] ((3, H, W) in
    [0, 1]; fake[i] may be (S, 3, H, W), S samples). Lower is better; each image counts once."""
    if not clean or not len(fake) == len(real) == len(clean):
        raise ValueError(f"need as many fake, real and clean images, at least one: {len(fake)}, {len(real)}, "
                         f"{len(clean)}")
    return sum(akld_image(f, r, c) for f, r, c in zip(fake, real, clean)) / len(clean)
