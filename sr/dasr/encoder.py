"""DASR's degradation encoder (Wang et al., CVPR 2021, section 3.2; `model/blindsr.py::Encoder` of the official code).

Six 3x3 convs with BatchNorm and LeakyReLU(0.1) (64, 64, 128 stride 2, 128, 256 stride 2, 256 channels), a global
average pool to the representation (256-d, what conditions the SR network) and an MLP head (256 -> 256 -> 256) whose
output only the contrastive loss sees. The input is the LR image on the 0-255 scale without mean shift, as in the
official code.
"""
import torch
from torch import nn

from deflow.registry import ARCHS

STRIDES = (1, 1, 2, 1, 2, 1)


@ARCHS.register()
class DASREncoder(nn.Module):
    """Args:
        widths: output channels of the six conv layers (DASR: 64, 64, 128, 128, 256, 256); the last is the
            representation's size.
        proj_dim: output size of the MLP head for the contrastive loss (DASR: 256).
        rgb_range: the input [0, 1] is multiplied by this (DASR: 255).
    """

    def __init__(self, widths: list[int] = (64, 64, 128, 128, 256, 256), proj_dim: int = 256, rgb_range: float = 255.0):
        super().__init__()
        if len(widths) != len(STRIDES):
            raise ValueError(f"DASREncoder: widths needs {len(STRIDES)} channel counts, got {list(widths)}")
        layers, in_ch = [], 3
        for out_ch, stride in zip(widths, STRIDES):
            layers += [nn.Conv2d(in_ch, out_ch, 3, stride, 1), nn.BatchNorm2d(out_ch), nn.LeakyReLU(0.1, True)]
            in_ch = out_ch
        self.features = nn.Sequential(*layers)
        self.mlp = nn.Sequential(nn.Linear(in_ch, in_ch), nn.LeakyReLU(0.1, True), nn.Linear(in_ch, proj_dim))
        self.rep_dim, self.proj_dim, self.rgb_range = in_ch, proj_dim, rgb_range

    def represent(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, h, w) LR in [0, 1] -> (N, rep_dim): the degradation representation, pooled over the whole input."""
        return self.features(x * self.rgb_range).mean(dim=(-2, -1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(representation (N, rep_dim), projection (N, proj_dim)) of an LR batch in [0, 1]."""
        fea = self.represent(x)
        return fea, self.mlp(fea)
