"""Conditional affine coupling with a conditional injector (SRFlow's CondAffineSeparatedAndCond) in
DeFlow's direction (`multReverse`): encoding divides by the scales, decoding multiplies (deflow.md 2.2)."""
import torch

from deflow.flow.base import InvertibleLayer, sum_per_sample
from deflow.flow.convs import coupling_net, split_cross


class CondAffineCoupling(InvertibleLayer):
    """Injector (shift_ft, scale_ft) = F(cond), then coupling (shift, scale) = F(cat(z1, cond)) on z2.

    Encode:  z2 <- z2 / scale - shift,        then z <- z / scale_ft - shift_ft.
    Decode:  z <- (z + shift_ft) * scale_ft,  then z2 <- (z2 + shift) * scale.
    z1 = the first C // 2 channels. Every scale is sigmoid(raw + 2) + eps, in (eps, 1 + eps), so decoding
    is (nearly) a contraction and all blow-up is confined to encoding, bounded by 1 / eps.

    Args:
        channels: C of the flowing tensor.
        cond_channels: channels of the conditioning map (320 with the official encoder).
        hidden_channels: width of both F nets (128 AIM, 64 NTIRE/DPED).
        eps: lower bound of the scales (1e-3 in DeFlow's configs).
    """

    def __init__(self, channels: int, cond_channels: int, hidden_channels: int = 64, eps: float = 1e-3):
        super().__init__()
        self.n_keep = channels // 2
        self.eps = eps
        self.injector = coupling_net(cond_channels, 2 * channels, hidden_channels)
        self.affine = coupling_net(self.n_keep + cond_channels, 2 * (channels - self.n_keep), hidden_channels)

    def _shift_scale(self, net, inputs):
        shift, raw = split_cross(net(inputs))
        return shift, torch.sigmoid(raw + 2.0) + self.eps

    def forward(self, x, cond=None, reverse: bool = False):
        shift_ft, scale_ft = self._shift_scale(self.injector, cond)
        if reverse:
            x = (x + shift_ft) * scale_ft
        z1, z2 = x[:, :self.n_keep], x[:, self.n_keep:]
        shift, scale = self._shift_scale(self.affine, torch.cat([z1, cond], 1))
        log_scales = sum_per_sample(torch.log(scale)) + sum_per_sample(torch.log(scale_ft))
        if reverse:
            return torch.cat([z1, (z2 + shift) * scale], 1), log_scales
        z = torch.cat([z1, z2 / scale - shift], 1)
        return z / scale_ft - shift_ft, -log_scales
