"""The DASR SR network (Wang et al., CVPR 2021, Fig. 3; `model/blindsr.py::DASR` of the official code): MeanShift
with DIV2K's mean on the 0-255 scale, a 3x3 head, `n_groups` DA groups of `n_blocks` DA blocks, a 3x3 conv and the
global skip, EDSR's upsampler (log2(s) x [conv, PixelShuffle(2)] for 2 and 4, [conv, PixelShuffle(3)] for 3) and a
3x3 conv to RGB. The degradation representation (B, rep_dim) is compressed once by Linear(rep_dim -> 64, no bias) +
LReLU(0.1) and conditions every DA conv. Images are [0, 1] at the boundary and `rgb_range` (255) inside.
"""
import math

import torch
from torch import nn

from deflow.registry import ARCHS
from sr.dasr.da_conv import DAGroup

DIV2K_MEAN = (0.4488, 0.4371, 0.4040)


def upsampler(scale: int, channels: int) -> nn.Sequential:
    if scale == 3:
        return nn.Sequential(nn.Conv2d(channels, 9 * channels, 3, padding=1), nn.PixelShuffle(3))
    if scale < 1 or scale & (scale - 1):
        raise ValueError(f"DASRNet: scale must be 1, 2, 3, 4, 8, ...; got {scale}")
    layers = []
    for _ in range(int(math.log2(scale))):
        layers += [nn.Conv2d(channels, 4 * channels, 3, padding=1), nn.PixelShuffle(2)]
    return nn.Sequential(*layers)


@ARCHS.register()
class DASRNet(nn.Module):
    """Args:
        scale: upscaling factor (2, 3 or 4 in the paper).
        n_groups: DA groups (DASR: 5).
        n_blocks: DA blocks per group (DASR: 5).
        n_feats: feature channels (DASR: 64).
        rep_dim: size of the encoder's representation (DASR: 256).
        rep_channels: size of the compressed representation every DA conv reads (DASR: 64).
        reduction: channel reduction of the modulation branch (DASR: 8).
        rgb_range: images are multiplied by this inside the network (DASR: 255).
        da_kernel: per-sample depth-wise kernels predicted from the representation (false: the paper's ablation).
        channel_modulation: channel gates from the representation (false: the paper's ablation).
    """

    def __init__(self, scale: int = 4, n_groups: int = 5, n_blocks: int = 5, n_feats: int = 64, rep_dim: int = 256,
                 rep_channels: int = 64, reduction: int = 8, rgb_range: float = 255.0, da_kernel: bool = True,
                 channel_modulation: bool = True):
        super().__init__()
        self.scale, self.rgb_range = scale, rgb_range
        self.register_buffer("mean", torch.tensor(DIV2K_MEAN).reshape(1, 3, 1, 1) * rgb_range, persistent=False)
        self.compress = nn.Sequential(nn.Linear(rep_dim, rep_channels, bias=False), nn.LeakyReLU(0.1, True))
        self.head = nn.Conv2d(3, n_feats, 3, padding=1)
        switches = dict(da_kernel=da_kernel, channel_modulation=channel_modulation)
        self.groups = nn.ModuleList(DAGroup(n_feats, n_blocks, rep_channels, reduction, **switches)
                                    for _ in range(n_groups))
        self.body_conv = nn.Conv2d(n_feats, n_feats, 3, padding=1)
        self.tail = nn.Sequential(upsampler(scale, n_feats), nn.Conv2d(n_feats, 3, 3, padding=1))

    def forward(self, x: torch.Tensor, rep: torch.Tensor) -> torch.Tensor:
        """x (B, 3, h, w) in [0, 1], rep (B, rep_dim) -> (B, 3, h s, w s), about [0, 1] (not clamped)."""
        r = self.compress(rep)
        head = self.head(x * self.rgb_range - self.mean)
        out = head
        for group in self.groups:
            out = group(out, r)
        out = self.tail(head + self.body_conv(out))
        return (out + self.mean) / self.rgb_range
