"""Pixel losses, registered by name for `train.pixel_opt: {type: L1Loss, loss_weight: 1.0}`."""
import torch
from torch import nn

from deflow.registry import LOSSES


class _WeightedLoss(nn.Module):
    def __init__(self, loss_weight: float = 1.0, reduction: str = "mean"):
        super().__init__()
        self.loss_weight = loss_weight
        self.reduction = reduction

    def reduce(self, per_element: torch.Tensor) -> torch.Tensor:
        return self.loss_weight * (per_element.mean() if self.reduction == "mean" else per_element.sum())


@LOSSES.register()
class L1Loss(_WeightedLoss):
    """Mean absolute error.

    Args:
        loss_weight: multiplier of the loss.
        reduction: mean or sum.
    """

    def forward(self, pred, target):
        return self.reduce((pred - target).abs())


@LOSSES.register()
class MSELoss(_WeightedLoss):
    """Mean squared error.

    Args:
        loss_weight: multiplier of the loss.
        reduction: mean or sum.
    """

    def forward(self, pred, target):
        return self.reduce((pred - target) ** 2)


@LOSSES.register()
class CharbonnierLoss(_WeightedLoss):
    """sqrt((pred - target)^2 + eps^2), a differentiable L1.

    Args:
        loss_weight: multiplier of the loss.
        reduction: mean or sum.
        eps: smoothing constant (1e-12 in BasicSR's default).
    """

    def __init__(self, loss_weight: float = 1.0, reduction: str = "mean", eps: float = 1e-12):
        super().__init__(loss_weight, reduction)
        self.eps = eps

    def forward(self, pred, target):
        return self.reduce(torch.sqrt((pred - target) ** 2 + self.eps ** 2))
