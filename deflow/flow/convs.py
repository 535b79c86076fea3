"""The small CNNs inside couplings and priors: conv + ActNorm blocks and Glow's zero-initialised conv."""
import torch
from torch import nn

from deflow.flow.actnorm import ActNorm


def split_cross(h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Even channels, odd channels: how a net's output is read as (shift, scale) or (mean, logs)."""
    return h[:, 0::2], h[:, 1::2]


def affine_shift_scale(h: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """A coupling or injector net's output -> (shift, scale = sigmoid(raw + 2) + eps). A scale in (eps, 1 + eps)
    makes decoding (nearly) a contraction and confines all blow-up to encoding, bounded by 1 / eps."""
    shift, raw = split_cross(h)
    return shift, torch.sigmoid(raw + 2.0) + eps


class ZeroConv2d(nn.Module):
    """3x3 conv with zero weight and bias whose output is multiplied by exp(3 * logs) (Glow's Conv2dZeros):
    the net it ends starts as the zero map."""

    def __init__(self, in_channels: int, out_channels: int, logscale_factor: float = 3.0):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        nn.init.zeros_(self.conv.weight)
        nn.init.zeros_(self.conv.bias)
        self.logs = nn.Parameter(torch.zeros(1, out_channels, 1, 1))
        self.logscale_factor = logscale_factor

    def forward(self, x):
        return self.conv(x) * torch.exp(self.logs * self.logscale_factor)


class ConvActNorm(nn.Module):
    """Bias-free conv (weights N(0, 0.05^2), as Glow) followed by ActNorm."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False)
        nn.init.normal_(self.conv.weight, std=0.05)
        self.actnorm = ActNorm(out_channels)

    def forward(self, x):
        return self.actnorm(self.conv(x))[0]


def coupling_net(in_channels: int, out_channels: int, hidden_channels: int) -> nn.Sequential:
    """Conv3x3+ActNorm, ReLU, Conv1x1+ActNorm, ReLU, ZeroConv3x3: the F of every coupling and injector."""
    return nn.Sequential(
        ConvActNorm(in_channels, hidden_channels, 3), nn.ReLU(),
        ConvActNorm(hidden_channels, hidden_channels, 1), nn.ReLU(),
        ZeroConv2d(hidden_channels, out_channels),
    )
