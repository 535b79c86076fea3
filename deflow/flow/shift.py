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

    With `latent_scale`, a degraded latent is D z_x + u, D = diag(exp(d)) per channel, d starting at 0: the
    degraded density is N(mu, D^2 + A A^T), which can hold *less* variance than the clean one in some channels.
    DeFlow's I + A A^T >= I cannot: a degradation that removes detail (blur, the contrast an ISP takes out) is out
    of its reach, since a shift independent of z_x only adds. z_x ~ N(0, I) and u independent still give the
    density in closed form, as DeFlow's derivation needs.

    Args:
        channels: C of this level's latent.
        std_init_shift: A starts as eye * std_init_shift. 0 (the released configs) freezes A forever:
            the gradient of A A^T vanishes at A = 0, so only mu is learned (DeFlow issue #2).
        latent_scale: learn D (False: D = I, DeFlow).
    """

    def __init__(self, channels: int, std_init_shift: float = 0.01, latent_scale: bool = False):
        super().__init__()
        self.mean_shift = nn.Parameter(torch.zeros(channels))
        self.A = nn.Parameter(torch.eye(channels) * std_init_shift)
        self.log_latent_scale = nn.Parameter(torch.zeros(channels)) if latent_scale else None

    def sigma(self) -> torch.Tensor:
        a = self.A.double()
        return a @ a.T

    def latent_scale(self) -> torch.Tensor:
        """(C,) float64: the diagonal of D (ones without latent_scale)."""
        if self.log_latent_scale is None:
            return torch.ones(self.A.shape[0], dtype=torch.float64, device=self.A.device)
        return self.log_latent_scale.double().exp()

    def covariance(self) -> torch.Tensor:
        """(C, C) float64: D^2 + A A^T, the degraded latents' covariance per pixel."""
        return torch.diag(self.latent_scale().square()) + self.sigma()

    def variance_per_channel(self, cond: torch.Tensor | None = None) -> torch.Tensor:
        """trace(D^2 + Sigma) / C, the degraded density's mean per-channel variance: a scalar here, (B, H, W) where
        Sigma follows the conditioning."""
        return self.covariance().trace() / self.A.shape[0]

    def degrade(self, z: torch.Tensor, generator: torch.Generator | None = None, heat: float = 1.0,
                cond: torch.Tensor | None = None) -> torch.Tensor:
        """A clean latent (B, C, H, W) -> a degraded one, D z + heat * u (DeFlow: z + heat * u)."""
        shift = heat * self.sample_shift(z.shape, generator, cond).to(z.dtype)
        if self.log_latent_scale is None:
            return z + shift
        return self.latent_scale().to(z.dtype).view(1, -1, 1, 1) * z + shift

    def _mu(self, z):
        return self.mean_shift.to(z.dtype).view(1, -1, 1, 1)

    def log_prob(self, z: torch.Tensor, label, cond: torch.Tensor | None = None) -> torch.Tensor:
        """z (B, C, H, W), label 0/1 (int or (B,)) -> (B,) log-density summed over pixels (float64 inside).
        `cond`, the level's conditioning map, is what a content-dependent shift reads; this one ignores it."""
        batch, channels = z.shape[:2]
        pixels = z.double().permute(0, 2, 3, 1).reshape(batch, -1, channels)
        clean = -0.5 * (pixels.pow(2) + math.log(2 * math.pi)).sum((1, 2))
        label = torch.as_tensor(label).expand(batch).bool()
        if label.device.type == "cpu":  # the degraded density of the degraded rows only
            rows = label.nonzero().squeeze(1).to(z.device)
            degraded = self._degraded_log_prob(pixels[rows], None if cond is None else cond[rows])
            return clean.index_put((rows,), degraded).to(z.dtype)
        # on an accelerator, finding the rows would wait for the device: every row is computed, then selected
        return torch.where(label, self._degraded_log_prob(pixels, cond), clean).to(z.dtype)

    def _degraded_log_prob(self, pixels: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        """(B, N, C) float64 latent pixels -> (B,) log N(mu, D^2 + A A^T) summed over the N pixels."""
        batch, count, channels = pixels.shape
        chol = torch.linalg.cholesky(self.covariance())
        diff = (pixels - self.mean_shift.double()).reshape(-1, channels).T
        mahalanobis = torch.linalg.solve_triangular(chol, diff, upper=False).pow(2).sum(0).view(batch, count).sum(1)
        log_det = 2 * torch.log(torch.diagonal(chol)).sum()
        return -0.5 * (mahalanobis + count * (log_det + channels * math.log(2 * math.pi)))

    def sample_shift(self, shape, generator: torch.Generator | None = None,
                     cond: torch.Tensor | None = None) -> torch.Tensor:
        """u ~ N(mu, A A^T) per pixel, shape (B, C, H, W): what translation adds to a clean latent."""
        n = torch.randn(shape, generator=generator, dtype=self.A.dtype, device=self.A.device)
        return per_pixel(self.A, n) + self._mu(n)

    def sample(self, shape, label, generator: torch.Generator | None = None,
               cond: torch.Tensor | None = None) -> torch.Tensor:
        """A latent of the domain `label` (int or (B,)): N(0, I), degraded (`degrade`) for label 1."""
        z = torch.randn(shape, generator=generator, dtype=self.A.dtype, device=self.A.device)
        label = torch.as_tensor(label, device=z.device).expand(shape[0]).bool().view(-1, 1, 1, 1)
        return torch.where(label, self.degrade(z, generator, 1.0, cond), z)

    def posterior(self, z: torch.Tensor, generator: torch.Generator | None = None, heat: float = 0.0,
                  cond: torch.Tensor | None = None):
        """The clean latent behind a degraded one z = D z_x + u, per pixel: z_x | z ~ N(D M^-1 (z - mu),
        I - D M^-1 D), M = D^2 + A A^T. heat 0 returns the posterior mean; heat t adds t times a posterior
        standard deviation."""
        return gaussian_posterior(z, z - self._mu(z), self.covariance(), self.latent_scale(), generator, heat)


def gaussian_posterior(z: torch.Tensor, centred: torch.Tensor, covariance: torch.Tensor, scale: torch.Tensor,
                       generator: torch.Generator | None, heat: float) -> torch.Tensor:
    """z_x | z for z = D z_x + u, z_x ~ N(0, I): centred = z - E[z] (B, C, H, W); covariance M (C, C) or one per
    pixel (B H W, C, C) in (b, h, w) order; scale the diagonal of D (C,). Float64 inside, z's dtype out."""
    batch, channels, height, width = z.shape
    chol = torch.linalg.cholesky(covariance)
    diff = centred.double().permute(0, 2, 3, 1).reshape(-1, channels, 1)
    d = scale.view(channels, 1)
    z_x = d * torch.cholesky_solve(diff, chol.expand(diff.shape[0], channels, channels))
    if heat:
        eye = torch.eye(channels, dtype=torch.float64, device=z.device)
        std = torch.linalg.cholesky(eye - d * torch.cholesky_inverse(chol) * d.T + 1e-9 * eye)
        n = torch.randn(z_x.shape, generator=generator, dtype=torch.float64, device=z.device)
        z_x = z_x + heat * std @ n
    return z_x.view(batch, height, width, channels).permute(0, 3, 1, 2).to(z.dtype)
