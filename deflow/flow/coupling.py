"""Conditional affine coupling (the `fAffine` half of SRFlow's CondAffineSeparatedAndCond, official code
codes/models/modules/FlowAffineCouplingsAblation.py) in DeFlow's direction (`multReverse`): encoding divides by
the scales, decoding multiplies."""
import torch

from deflow.flow.base import InvertibleLayer, sum_per_sample
from deflow.flow.convs import affine_shift_scale, coupling_net


class CondAffineCoupling(InvertibleLayer):
    """(shift, scale) = F(cat(z1, cond)) on z2; encode z2 <- z2 / scale - shift, decode z2 <- (z2 + shift) * scale.

    z1 = the first C // 2 channels, passed through unchanged; the scales are those of `affine_shift_scale`.

    Args:
        channels: C of the flowing tensor.
        cond_channels: channels of the conditioning map (320 with the official encoder).
        hidden_channels: width of F (128 AIM, 64 NTIRE/DPED).
        eps: lower bound of the scales (1e-3 in DeFlow's configs).
    """

    def __init__(self, channels: int, cond_channels: int, hidden_channels: int = 64, eps: float = 1e-3):
        super().__init__()
        self.n_keep = channels // 2
        self.eps = eps
        self.net = coupling_net(self.n_keep + cond_channels, 2 * (channels - self.n_keep), hidden_channels)

    def forward(self, x, cond=None, reverse: bool = False):
        z1, z2 = x[:, :self.n_keep], x[:, self.n_keep:]
        shift, scale = affine_shift_scale(self.net(torch.cat([z1, cond], 1)), self.eps)
        log_scales = sum_per_sample(torch.log(scale))
        if reverse:
            return torch.cat([z1, (z2 + shift) * scale], 1), log_scales
        return torch.cat([z1, z2 / scale - shift], 1), -log_scales
