"""Conditional affine injector (SRFlow's affine injector, the `fFeatures` half of CondAffineSeparatedAndCond in
the official code, codes/models/modules/FlowAffineCouplingsAblation.py) in DeFlow's direction (`multReverse`)."""
import torch

from deflow.flow.base import InvertibleLayer, sum_per_sample
from deflow.flow.convs import affine_shift_scale, coupling_net


class CondAffineInjector(InvertibleLayer):
    """(shift, scale) = F(cond) for every element of z: encode z <- z / scale - shift, decode z <- (z + shift) * scale.
    F never reads z, so the map inverts for any F; its scales are those of `affine_shift_scale`.

    Args: `channels` is C of z; `cond_channels`, `hidden_channels` and `eps` are as in CondAffineCoupling.
    """

    def __init__(self, channels: int, cond_channels: int, hidden_channels: int = 64, eps: float = 1e-3):
        super().__init__()
        self.eps = eps
        self.net = coupling_net(cond_channels, 2 * channels, hidden_channels)

    def shift_scale(self, cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return affine_shift_scale(self.net(cond), self.eps)

    def forward(self, x, cond=None, reverse: bool = False, shift_scale=None):
        """`shift_scale`: this layer's shift_scale(cond) when the caller computed it already."""
        shift, scale = self.shift_scale(cond) if shift_scale is None else shift_scale
        log_scales = sum_per_sample(torch.log(scale))
        if reverse:
            return (x + shift) * scale, log_scales
        return x / scale - shift, -log_scales
