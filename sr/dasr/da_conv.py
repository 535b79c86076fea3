"""Degradation-aware convolution, block and group (Wang et al., CVPR 2021, section 3.3, Fig. 4; `DA_conv`, `DAB`,
`DAG` of the official `model/blindsr.py`).

DAConv(F, R), for features F (B, C, H, W) and the compressed representation R (B, rep_channels):
    branch 1: FC(rep -> rep) -> LReLU(0.1) -> FC(rep -> C k k) gives a depth-wise k x k kernel per sample and channel,
              applied as one grouped conv over the batch, then LReLU(0.1) and a 1x1 conv (C -> C, bias)
    branch 2: 1x1 conv (rep -> rep / reduction) -> LReLU(0.1) -> 1x1 conv (-> C) -> sigmoid gives v (B, C, 1, 1);
              F * v
    output:   branch 1 + branch 2
The paper's two ablations are switches: `da_kernel: false` replaces the predicted kernel by a learned static
depth-wise kernel (same structure, no conditioning), `channel_modulation: false` replaces F * v by F.
"""
import torch
import torch.nn.functional as F
from torch import nn


class DAConv(nn.Module):
    """Args:
        channels: feature channels C.
        rep_channels: size of the compressed representation R (DASR: 64).
        kernel_size: k of the predicted depth-wise kernel (DASR: 3).
        reduction: channel reduction of the modulation branch (DASR: 8).
        da_kernel: predict the depth-wise kernel from R (false: a static kernel, the paper's ablation).
        channel_modulation: gate the channels by v(R) (false: F passes unmodulated, the paper's ablation).
    """

    def __init__(self, channels: int, rep_channels: int = 64, kernel_size: int = 3, reduction: int = 8,
                 da_kernel: bool = True, channel_modulation: bool = True):
        super().__init__()
        self.channels, self.kernel_size = channels, kernel_size
        self.da_kernel, self.channel_modulation = da_kernel, channel_modulation
        if da_kernel:
            self.kernel = nn.Sequential(nn.Linear(rep_channels, rep_channels, bias=False), nn.LeakyReLU(0.1, True),
                                        nn.Linear(rep_channels, channels * kernel_size ** 2, bias=False))
        else:
            self.static = nn.Conv2d(channels, channels, kernel_size, padding=kernel_size // 2, groups=channels,
                                    bias=False)
        self.conv = nn.Conv2d(channels, channels, 1)
        if channel_modulation:
            self.gate = nn.Sequential(nn.Conv2d(rep_channels, max(1, rep_channels // reduction), 1, bias=False),
                                      nn.LeakyReLU(0.1, True),
                                      nn.Conv2d(max(1, rep_channels // reduction), channels, 1, bias=False),
                                      nn.Sigmoid())
        self.act = nn.LeakyReLU(0.1, True)

    def forward(self, x: torch.Tensor, rep: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        k = self.kernel_size
        if self.da_kernel:
            weight = self.kernel(rep).reshape(b * c, 1, k, k)
            y = F.conv2d(x.reshape(1, b * c, h, w), weight, padding=k // 2, groups=b * c).reshape(b, c, h, w)
        else:
            y = self.static(x)
        y = self.conv(self.act(y))
        return y + (x * self.gate(rep[:, :, None, None]) if self.channel_modulation else x)


class DABlock(nn.Module):
    """x -> DAConv -> LReLU -> conv3x3 -> LReLU -> DAConv -> LReLU -> conv3x3, plus x."""

    def __init__(self, channels: int, rep_channels: int = 64, reduction: int = 8, **switches):
        super().__init__()
        self.da1 = DAConv(channels, rep_channels, 3, reduction, **switches)
        self.da2 = DAConv(channels, rep_channels, 3, reduction, **switches)
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.act = nn.LeakyReLU(0.1, True)

    def forward(self, x: torch.Tensor, rep: torch.Tensor) -> torch.Tensor:
        out = self.act(self.conv1(self.act(self.da1(x, rep))))
        return x + self.conv2(self.act(self.da2(out, rep)))


class DAGroup(nn.Module):
    """`blocks` DA blocks, a conv3x3, plus the group's input (a long skip)."""

    def __init__(self, channels: int, blocks: int, rep_channels: int = 64, reduction: int = 8, **switches):
        super().__init__()
        self.blocks = nn.ModuleList(DABlock(channels, rep_channels, reduction, **switches) for _ in range(blocks))
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor, rep: torch.Tensor) -> torch.Tensor:
        out = x
        for block in self.blocks:
            out = block(out, rep)
        return x + self.conv(out)
