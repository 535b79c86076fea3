"""Split with a learned prior: half the channels leave the flow as the level's latent (Glow's split; Split2d of the
official code, codes/models/modules/Split.py)."""
import torch

from deflow.flow.base import InvertibleLayer, sum_per_sample
from deflow.flow.convs import ZeroConv2d, split_cross


class Split(InvertibleLayer):
    """x -> (z1, eps): z1 = the first C // 2 channels flows on; the rest, z2, is standardised under a
    Gaussian whose mean and log-std a zero-initialised conv predicts from z1:
    eps = (z2 - mean) / (exp(logs) + 1e-6), logdet = -sum log(exp(logs) + 1e-6).

    eps is the latent of this level; its density is the level's DomainShift. Decoding takes the pair
    (z1, eps); eps = None draws eps ~ N(0, I) (the clean prior) from `generator`.

    With `domain_prior`, the degraded domain (label 1) adds a zero-initialised correction of its own to (mean, logs),
    so the part of the degradation that lives in z2 | z1 need not pass through the shared prior; every call then
    names its domain (`label`: int or (B,)), and a translation encodes with one label and decodes with the other.
    """

    def __init__(self, channels: int, domain_prior: bool = False):
        super().__init__()
        self.n_keep = channels // 2
        self.prior = ZeroConv2d(self.n_keep, 2 * (channels - self.n_keep))
        self.degraded_prior = ZeroConv2d(self.n_keep, 2 * (channels - self.n_keep)) if domain_prior else None

    def _mean_std(self, z1, label):
        out = self.prior(z1)
        if self.degraded_prior is not None:
            if label is None:
                raise ValueError("a Split with a domain prior needs the domain label")
            weight = torch.as_tensor(label, dtype=z1.dtype, device=z1.device).expand(z1.shape[0]).view(-1, 1, 1, 1)
            out = out + weight * self.degraded_prior(z1)
        mean, logs = split_cross(out)
        return mean, torch.exp(logs) + 1e-6  # 1e-6 as in DeFlow's Split2d

    def forward(self, x, cond=None, reverse: bool = False, generator: torch.Generator | None = None, label=None):
        if not reverse:
            z1, z2 = x[:, :self.n_keep], x[:, self.n_keep:]
            mean, std = self._mean_std(z1, label)
            return (z1, (z2 - mean) / std), -sum_per_sample(torch.log(std))
        z1, eps = x
        mean, std = self._mean_std(z1, label)
        if eps is None:
            eps = torch.randn(mean.shape, generator=generator, dtype=mean.dtype, device=mean.device)
        return torch.cat([z1, mean + eps * std], 1), sum_per_sample(torch.log(std))
