"""The conditional flow: L levels of squeeze, transition steps, conditional steps and optional split."""
import torch
from torch import nn

from deflow.errors import UserError
from deflow.flow.actnorm import ActNorm
from deflow.flow.base import FlowSequence
from deflow.flow.coupling import CondAffineCoupling
from deflow.flow.invconv import InvConv1x1
from deflow.flow.split import Split
from deflow.flow.squeeze import Squeeze


class ConditionalFlowNet(nn.Module):
    """x (B, C, H, W) <-> latents {level: z}, conditioned on one feature map per level (deflow.md 2.1).

    Levels are numbered 1..L; level l works at 1/2^l of the input side. Each level is
    squeeze -> n_transition x (ActNorm, InvConv1x1) -> K x (ActNorm, InvConv1x1, CondAffineCoupling),
    followed by a Split when l is in `split_levels`. The latents are the eps of every split level and the
    final z of level L, returned as a dict keyed by level, so per-level parameters pair with them by name.

    Args:
        in_channels: image channels.
        L: number of levels; H and W must be multiples of 2^L.
        K: conditional steps per level.
        hidden_channels: width of the coupling and injector nets.
        n_transition: unconditional ActNorm + 1x1-conv steps after each squeeze.
        split_levels: 1-based levels (< L) ending with a Split. The official model splits only after
            level 1 (an SRFlow leftover, deflow.md 2.1), i.e. (1,).
        eps: lower bound of the coupling scales.
        cond_channels: channels of every conditioning map.
    """

    def __init__(self, in_channels: int = 3, L: int = 3, K: int = 16, hidden_channels: int = 64,
                 n_transition: int = 2, split_levels=(1,), eps: float = 1e-3, cond_channels: int = 320):
        super().__init__()
        split_levels = set(split_levels)
        if not split_levels <= set(range(1, L)):
            raise UserError(f"network_g.split_levels: levels are 1-based and below L={L}, got {sorted(split_levels)}")
        self.L = L
        self.levels = nn.ModuleList()
        self.splits = nn.ModuleDict()
        self.latent_channels: dict[int, int] = {}
        channels = in_channels
        for level in range(1, L + 1):
            channels *= 4
            steps = [FlowSequence([ActNorm(channels), InvConv1x1(channels)]) for _ in range(n_transition)]
            steps += [FlowSequence([ActNorm(channels), InvConv1x1(channels),
                                    CondAffineCoupling(channels, cond_channels, hidden_channels, eps)])
                      for _ in range(K)]
            self.levels.append(FlowSequence([Squeeze(), *steps]))
            if level in split_levels:
                self.splits[str(level)] = Split(channels)
                self.latent_channels[level] = channels - channels // 2
                channels //= 2
        self.latent_channels[L] = channels

    def latent_shapes(self, batch: int, height: int, width: int) -> dict[int, tuple[int, int, int, int]]:
        """The shape of every latent for an input of (batch, in_channels, height, width)."""
        return {level: (batch, c, height >> level, width >> level) for level, c in self.latent_channels.items()}

    def _check_conds(self, conds):
        if len(conds) != self.L:
            raise ValueError(f"expected {self.L} conditioning maps (one per level), got {len(conds)}")

    def encode(self, x: torch.Tensor, conds) -> tuple[dict[int, torch.Tensor], torch.Tensor]:
        """x and conds (one map per level, level 1 first) -> ({level: latent}, logdet (B,))."""
        self._check_conds(conds)
        latents = {}
        logdet = x.new_zeros(x.shape[0])
        for level, (flow, cond) in enumerate(zip(self.levels, conds), 1):
            x, step_logdet = flow(x, cond)
            logdet = logdet + step_logdet
            if str(level) in self.splits:
                (x, latents[level]), split_logdet = self.splits[str(level)](x)
                logdet = logdet + split_logdet
        latents[self.L] = x
        return latents, logdet

    def decode(self, latents: dict[int, torch.Tensor], conds, generator: torch.Generator | None = None):
        """{level: latent} and conds -> (x, logdet (B,) of decoding). A missing split latent is drawn from
        N(0, I) with `generator`; the level-L latent is required."""
        self._check_conds(conds)
        x = latents[self.L]
        logdet = x.new_zeros(x.shape[0])
        for level in range(self.L, 0, -1):
            if str(level) in self.splits:
                x, split_logdet = self.splits[str(level)]((x, latents.get(level)), reverse=True, generator=generator)
                logdet = logdet + split_logdet
            x, step_logdet = self.levels[level - 1](x, conds[level - 1], reverse=True)
            logdet = logdet + step_logdet
        return x, logdet
