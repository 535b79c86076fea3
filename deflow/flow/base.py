"""The contract of every invertible layer in the flow (FrEIA / SRFlow style).

    y, logdet = layer(x, cond)                    # encode: data -> latent (the training direction)
    x, neg_logdet = layer(y, cond, reverse=True)  # decode: latent -> data (generation)

`x` is a (B, C, H, W) tensor, `cond` the conditioning feature map at the layer's resolution (ignored by
layers that are not conditional). `logdet` is a per-sample tensor (B,) holding log|det J| of the direction
that was run, so the reverse pass returns -log|det J_encode| and the two cancel. The one exception in
shape is `Split`, whose encode output (and decode input) is the pair (kept z, factored-out eps).

Every layer is held to the same tests: reverse(forward(x)) == x, and logdet equals the log-abs-determinant
of the autograd Jacobian on a tiny input.
"""
import torch
from torch import nn


def sum_per_sample(x: torch.Tensor) -> torch.Tensor:
    """(B, ...) -> (B,): the sum over everything but the batch dimension."""
    return x.flatten(1).sum(1)


class InvertibleLayer(nn.Module):
    """Base class of the flow's layers; see the module docstring for the contract."""

    def forward(self, x, cond=None, reverse: bool = False):
        raise NotImplementedError


class FlowSequence(InvertibleLayer):
    """Named layers ({name: layer}, each a child module of that name) run in order on encode and in reverse order
    on decode; their logdets add up."""

    def __init__(self, layers: dict[str, InvertibleLayer]):
        super().__init__()
        for name, layer in layers.items():
            self.add_module(name, layer)

    def forward(self, x, cond=None, reverse: bool = False):
        layers = list(self.children())
        logdet = x.new_zeros(x.shape[0])
        for layer in (reversed(layers) if reverse else layers):
            x, layer_logdet = layer(x, cond, reverse)
            logdet = logdet + layer_logdet
        return x, logdet
