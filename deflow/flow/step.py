"""One flow step (SRFlow's FlowStep, official code codes/models/modules/FlowStep.py): ActNorm, invertible 1x1
conv and, in a conditional step, the affine coupling and the affine injector."""
from deflow.flow.actnorm import ActNorm
from deflow.flow.base import InvertibleLayer
from deflow.flow.coupling import CondAffineCoupling
from deflow.flow.injector import CondAffineInjector
from deflow.flow.invconv import InvConv1x1


class FlowStep(InvertibleLayer):
    """Encode: actnorm -> invconv -> coupling -> injector; decode runs them in reverse. A transition step
    (`cond_channels` None) is actnorm and invconv only.

    Args:
        channels: C of the flowing tensor.
        cond_channels: channels of the conditioning map, or None for a transition step.
        hidden_channels: width of the coupling and injector nets.
        eps: lower bound of their scales.
    """

    def __init__(self, channels: int, cond_channels: int | None = None, hidden_channels: int = 64,
                 eps: float = 1e-3):
        super().__init__()
        self.actnorm = ActNorm(channels)
        self.invconv = InvConv1x1(channels)
        self.conditional = cond_channels is not None
        if self.conditional:
            # The injector is built first: random initial weights and parameter order as in earlier checkpoints.
            self.injector = CondAffineInjector(channels, cond_channels, hidden_channels, eps)
            self.coupling = CondAffineCoupling(channels, cond_channels, hidden_channels, eps)

    def forward(self, x, cond=None, reverse: bool = False):
        if reverse:
            return self._decode(x, cond)
        x, logdet = self.actnorm(x)
        x, invconv_logdet = self.invconv(x)
        logdet = logdet + invconv_logdet
        if self.conditional:
            # The injector's net runs before the coupling's and their logdets are added first, as when both were
            # one layer: the same operations in the same order, so training rounds as it did then, bit for bit.
            injection = self.injector.shift_scale(cond)
            x, coupling_logdet = self.coupling(x, cond)
            x, injector_logdet = self.injector(x, cond, shift_scale=injection)
            logdet = logdet + (coupling_logdet + injector_logdet)
        return x, logdet

    def _decode(self, x, cond):
        logdet = x.new_zeros(x.shape[0])
        if self.conditional:
            x, injector_logdet = self.injector(x, cond, reverse=True)
            x, coupling_logdet = self.coupling(x, cond, reverse=True)
            logdet = coupling_logdet + injector_logdet
        x, invconv_logdet = self.invconv(x, reverse=True)
        x, actnorm_logdet = self.actnorm(x, reverse=True)
        return x, logdet + invconv_logdet + actnorm_logdet
