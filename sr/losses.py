"""Pixel losses, registered by name for `train.pixel_opt: {type: L1Loss, loss_weight: 1.0}`, and `build_loss`, which
builds any registered loss from such a section."""
import torch
from torch import nn

from deflow.errors import UserError
from deflow.registry import LOSSES
from deflow.schema import signature_schema, validate


def build_loss(section: dict, path: str) -> nn.Module:
    """The loss a `{type: Name, ...arguments}` option section names, its arguments checked against the loss's
    constructor (an unknown or mistyped one is a UserError at `path`, naming the nearest known)."""
    if "type" not in section:
        raise UserError(f"{path}.type: required key missing (a registered loss: {', '.join(LOSSES.names())})")
    cls = LOSSES.get(section["type"])
    return cls(**validate({k: v for k, v in section.items() if k != "type"}, signature_schema(cls), f"{path}."))


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
