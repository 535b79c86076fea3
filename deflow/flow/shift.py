"""The per-level domain shift: the two domains' base densities and the latent translation between them."""
import math

import torch
from torch import nn


def per_pixel(matrix: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Apply a (C, C) matrix to the channel vector of every pixel of z (B, C, H, W)."""
    return torch.einsum("ij,bjhw->bihw", matrix.to(z.dtype), z)


class DomainShift(nn.Module):
    """Per pixel over channels: clean latents (label 0) ~ N(0, I), degraded (label 1) ~ N(mu, I + A A^T), so a
    degraded latent is a clean one plus u ~ N(mu, Sigma), Sigma = A A^T (DeFlow's latent shift; `mean_shift` and
    `cov_shift` of the official code, codes/models/modules/RRDBGlowNet_arch.py and Split.py).

    Args:
        channels: C of this level's latent.
        std_init_shift: A starts as eye * std_init_shift. 0 (the released configs) freezes A forever:
            the gradient of A A^T vanishes at A = 0, so only mu is learned (DeFlow issue #2).
    """

    def __init__(self, channels: int, std_init_shift: float = 0.01):
        super().__init__()
        self.mean_shift = nn.Parameter(torch.zeros(channels))
        self.A = nn.Parameter(torch.eye(channels) * std_init_shift)

    def sigma(self) -> torch.Tensor:
        a = self.A.double()
        return a @ a.T

    def variance_per_channel(self, cond: torch.Tensor | None = None) -> torch.Tensor:
        """trace(I + Sigma) / C, the degraded density's mean per-channel variance: a scalar here, (B, H, W) where
        Sigma follows the conditioning."""
        return 1 + self.sigma().trace() / self.A.shape[0]

    def _mu(self, z):
        return self.mean_shift.to(z.dtype).view(1, -1, 1, 1)

    def log_prob(self, z: torch.Tensor, label, cond: torch.Tensor | None = None) -> torch.Tensor:
        """z (B, C, H, W), label 0/1 (int or (B,)) -> (B,) log-density summed over pixels (float64 inside).
        `cond`, the level's conditioning map, is what a content-dependent shift reads; this one ignores it."""
        batch, channels = z.shape[:2]
        pixels = z.double().permute(0, 2, 3, 1).reshape(batch, -1, channels)
        clean = -0.5 * (pixels.pow(2) + math.log(2 * math.pi)).sum((1, 2))
        degraded = self._degraded_log_prob(pixels, cond)
        label = torch.as_tensor(label, device=z.device).expand(batch).bool()
        return torch.where(label, degraded, clean).to(z.dtype)

    def _degraded_log_prob(self, pixels: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        """(B, N, C) float64 latent pixels -> (B,) log N(mu, I + A A^T) summed over the N pixels."""
        batch, _, channels = pixels.shape
        eye = torch.eye(channels, dtype=torch.float64, device=pixels.device)
        chol = torch.linalg.cholesky(eye + self.sigma())
        diff = (pixels - self.mean_shift.double()).reshape(-1, channels).T
        mahalanobis = torch.linalg.solve_triangular(chol, diff, upper=False).pow(2).sum(0).view(batch, -1).sum(1)
        log_det = 2 * torch.log(torch.diagonal(chol)).sum()
        return -0.5 * (mahalanobis + pixels.shape[1] * (log_det + channels * math.log(2 * math.pi)))

    def sample_shift(self, shape, generator: torch.Generator | None = None,
                     cond: torch.Tensor | None = None) -> torch.Tensor:
        """u ~ N(mu, A A^T) per pixel, shape (B, C, H, W): what translation adds to a clean latent."""
        n = torch.randn(shape, generator=generator, dtype=self.A.dtype, device=self.A.device)
        return per_pixel(self.A, n) + self._mu(n)

    def sample(self, shape, label, generator: torch.Generator | None = None,
               cond: torch.Tensor | None = None) -> torch.Tensor:
        """A latent of the domain `label` (int or (B,)): N(0, I), plus u for label 1."""
        z = torch.randn(shape, generator=generator, dtype=self.A.dtype, device=self.A.device)
        label = torch.as_tensor(label, device=z.device).expand(shape[0]).to(z.dtype).view(-1, 1, 1, 1)
        return z + label * self.sample_shift(shape, generator, cond)

    def posterior(self, z: torch.Tensor, generator: torch.Generator | None = None, heat: float = 0.0,
                  cond: torch.Tensor | None = None):
        """The clean latent behind a degraded one z = z_x + u: z_x | z ~ N((I+S)^-1 (z - mu), S (I+S)^-1),
        S = A A^T. heat 0 returns the posterior mean; heat t adds t times a posterior standard deviation."""
        d, v = torch.linalg.eigh(self.sigma())
        z_x = per_pixel(v @ torch.diag(1 / (1 + d)) @ v.T, z - self._mu(z))
        if heat:
            std = v @ torch.diag((d.clamp_min(0) / (1 + d)).sqrt()) @ v.T
            n = torch.randn(z.shape, generator=generator, dtype=z.dtype, device=z.device)
            z_x = z_x + heat * per_pixel(std, n)
        return z_x
