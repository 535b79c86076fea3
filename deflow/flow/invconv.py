"""Invertible 1x1 convolution, LU-parametrised (Glow section 3.2)."""
import torch
import torch.nn.functional as F
from torch import nn

from deflow.flow.base import InvertibleLayer


class InvConv1x1(InvertibleLayer):
    """y = W x per pixel with W = P L (U + diag(sign_s * exp(log_s))); logdet = H * W * sum(log_s).

    P (a permutation) and sign_s are fixed; L is unit lower triangular, U strictly upper triangular.
    W starts as a random rotation (QR of a Gaussian matrix). The inverse is computed in float64.
    """

    def __init__(self, channels: int):
        super().__init__()
        rotation = torch.linalg.qr(torch.randn(channels, channels))[0]
        p, lower, upper = torch.linalg.lu(rotation)
        s = torch.diagonal(upper)
        self.register_buffer("p", p)
        self.register_buffer("sign_s", torch.sign(s))
        self.register_buffer("lower_mask", torch.tril(torch.ones(channels, channels), -1))
        self.lower = nn.Parameter(lower)
        self.upper = nn.Parameter(torch.triu(upper, 1))
        self.log_s = nn.Parameter(torch.log(s.abs()))

    def _factors(self) -> tuple[torch.Tensor, torch.Tensor]:
        eye = torch.eye(self.lower.shape[0], dtype=self.lower.dtype, device=self.lower.device)
        lower = self.lower * self.lower_mask + eye
        upper = self.upper * self.lower_mask.T + torch.diag(self.sign_s * torch.exp(self.log_s))
        return lower, upper

    def forward(self, x, cond=None, reverse: bool = False):
        lower, upper = self._factors()
        logdet = (self.log_s.sum() * (x.shape[2] * x.shape[3])).expand(x.shape[0])
        if not reverse:
            weight = self.p @ lower @ upper
            return F.conv2d(x, weight[:, :, None, None]), logdet
        eye = torch.eye(lower.shape[0], dtype=torch.float64, device=lower.device)
        lower_inv = torch.linalg.solve_triangular(lower.double(), eye, upper=False, unitriangular=True)
        upper_inv = torch.linalg.solve_triangular(upper.double(), eye, upper=True)
        weight_inv = (upper_inv @ lower_inv @ self.p.double().T).to(x.dtype)
        return F.conv2d(x, weight_inv[:, :, None, None]), -logdet
