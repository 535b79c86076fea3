"""A domain shift that depends on the content: noise that grows with the signal (shot noise) needs it.

DeFlow's shift is one Gaussian for every pixel, u ~ N(mu, A A^T). Here a zero-initialised 3x3 conv reads the
level's conditioning map c (features of h(x), shared by both domains, so DeFlow's derivation still holds) and
predicts a mean offset and a per-channel log-scale at every pixel:

    u ~ N(mu + m(c), S(c) A A^T S(c)),   S(c) = diag(exp(l(c))),   (m, l) = conv(c), both 0 at initialisation

so training starts from DeFlow's shift, and S can follow a signal-dependent noise level the way Noise Flow's
signal-dependent layer does (Abdelhamed et al., ICCV 2019, Sec. 3.3). Per pixel, a degraded latent is
z ~ N(mu + m, D^2 + S A A^T S) (D = I unless `latent_scale`, see DomainShift); its log-density uses one Cholesky
factor per pixel (float64), with the gradient in closed form (`GaussianLogDensity`).
"""
import math

import torch
from torch import nn

from deflow.flow.shift import DomainShift, gaussian_posterior, per_pixel


class GaussianLogDensity(torch.autograd.Function):
    """log N(diff; 0, M) of a batch of vectors diff (N, C, 1) under symmetric positive definite covariances M
    (N, C, C) -> (N,). The backward is the closed form (The Matrix Cookbook, Petersen & Pedersen 2012, eqs. 57 and
    61): with x = M^-1 diff, d/d diff = -x and d/dM = -(M^-1 - x x^T) / 2, from the forward's Cholesky factor.
    Autograd through torch.linalg.cholesky and a triangular solve gives the same gradient at about 1.5x the time
    (96 x 96 covariances, the last level of the CPU config)."""

    @staticmethod
    def forward(ctx, diff: torch.Tensor, covariance: torch.Tensor) -> torch.Tensor:
        chol = torch.linalg.cholesky(covariance)
        x = torch.cholesky_solve(diff, chol)
        ctx.save_for_backward(chol, x)
        log_det = 2 * torch.log(torch.diagonal(chol, dim1=1, dim2=2)).sum(1)
        return -0.5 * ((diff * x).sum((1, 2)) + log_det + diff.shape[1] * math.log(2 * math.pi))

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        chol, x = ctx.saved_tensors
        grad = grad.view(-1, 1, 1)
        return -grad * x, -0.5 * grad * (torch.cholesky_inverse(chol) - x @ x.transpose(1, 2))


class ContentShift(DomainShift):
    """DomainShift whose mean and per-channel scale follow the conditioning map `cond` (B, cond_channels, H, W)
    at the latent's resolution.

    Args:
        channels: C of this level's latent.
        cond_channels: channels of the conditioning map.
        std_init_shift: A starts as eye * std_init_shift (as DomainShift).
        latent_scale: learn D (as DomainShift).
    """

    def __init__(self, channels: int, cond_channels: int, std_init_shift: float = 0.01, latent_scale: bool = False):
        super().__init__(channels, std_init_shift, latent_scale)
        self.content = nn.Conv2d(cond_channels, 2 * channels, 3, padding=1)
        nn.init.zeros_(self.content.weight)
        nn.init.zeros_(self.content.bias)

    def mean_and_scale(self, cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, C, H, W) mean mu + m(c) and scale exp(l(c)) of every pixel."""
        offset, log_scale = self.content(cond).chunk(2, dim=1)
        return self._mu(offset) + offset, torch.exp(log_scale)

    def _pixel_covariance(self, scale: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) scales -> (B H W, C, C): D^2 + S A A^T S of every pixel, float64, pixels in (b, h, w)
        order. (S Sigma S)_ij = s_i Sigma_ij s_j: an elementwise product, C^2 per pixel instead of a C^3 matmul."""
        s = scale.double().permute(0, 2, 3, 1).reshape(-1, scale.shape[1])
        return torch.diag(self.latent_scale().square()) + self.sigma() * (s[:, :, None] * s[:, None, :])

    def variance_per_channel(self, cond: torch.Tensor | None = None) -> torch.Tensor:
        scale = self.mean_and_scale(cond)[1]
        return torch.diagonal(self._pixel_covariance(scale), dim1=1, dim2=2).mean(1).view(scale.shape[0],
                                                                                        *scale.shape[2:])

    def _degraded_log_prob(self, pixels: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        """(B, N, C) float64 latent pixels -> (B,) log N(mean, D^2 + S A A^T S) of every pixel, summed."""
        batch, count, channels = pixels.shape
        mean, scale = self.mean_and_scale(cond)
        diff = (pixels - mean.double().permute(0, 2, 3, 1).reshape(batch, count, channels)).reshape(-1, channels, 1)
        return GaussianLogDensity.apply(diff, self._pixel_covariance(scale)).view(batch, count).sum(1)

    def sample_shift(self, shape, generator: torch.Generator | None = None,
                     cond: torch.Tensor | None = None) -> torch.Tensor:
        mean, scale = self.mean_and_scale(cond)
        n = torch.randn(shape, generator=generator, dtype=self.A.dtype, device=self.A.device)
        return scale * per_pixel(self.A, n) + mean

    def posterior(self, z: torch.Tensor, generator: torch.Generator | None = None, heat: float = 0.0,
                  cond: torch.Tensor | None = None) -> torch.Tensor:
        """z_x | z ~ N(D M^-1 (z - mean), I - D M^-1 D) per pixel, M = D^2 + S A A^T S."""
        mean, scale = self.mean_and_scale(cond)
        return gaussian_posterior(z, z - mean, self._pixel_covariance(scale), self.latent_scale(), generator, heat)
