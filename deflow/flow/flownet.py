"""The conditional flow: L levels of squeeze, transition steps, conditional steps and optional split."""
import math
import re

import torch
from torch import nn

from deflow.errors import UserError
from deflow.flow.base import FlowSequence
from deflow.flow.split import Split
from deflow.flow.squeeze import Squeeze
from deflow.flow.step import FlowStep


def flow_size_multiple(scale: int, flow_levels: int) -> int:
    """The smallest side multiple a flow with `flow_levels` squeezes and its conditioning can take.

    The flow halves H and W once per level (so 2^L divides them); the conditioning image is H / scale
    (so scale divides them); and h's 0.5x feature map (used at level 3 for scale 4) is H / (2 scale)
    (so 2 scale divides them). Hence lcm(2^L, 2 * scale): 8 for scale 4 and L = 3, 16 for scale 8.
    """
    return math.lcm(2 ** flow_levels, 2 * scale)


# State-dict keys of checkpoints written before the layers had names: step part -> today's name.
_OLD_STEP = re.compile(r"levels\.(\d+)\.layers\.(\d+)\.layers\.(0|1|2\.injector|2\.affine)\.(.*)")
_OLD_SPLIT = re.compile(r"splits\.(\d+)\.(.*)")
_OLD_PARTS = {"0": "actnorm", "1": "invconv", "2.injector": "injector.net", "2.affine": "coupling.net"}


def _rename_old_keys(flow, state_dict, prefix, *_):
    """Load-state-dict pre-hook: `levels.{i}.layers.{j}.layers.{k}.` -> `level{i+1}.transition{j}.` or
    `level{i+1}.step{j - n_transition}.`, then actnorm / invconv / coupling.net / injector.net;
    `splits.{l}.` -> `split{l}.`"""
    for key in [k for k in state_dict if k.startswith(prefix)]:
        local = key[len(prefix):]
        if step := _OLD_STEP.fullmatch(local):
            level, index, part, rest = step.groups()
            index = int(index)
            name = f"transition{index}" if index <= flow.n_transition else f"step{index - flow.n_transition}"
            state_dict[f"{prefix}level{int(level) + 1}.{name}.{_OLD_PARTS[part]}.{rest}"] = state_dict.pop(key)
        elif split := _OLD_SPLIT.fullmatch(local):
            state_dict[f"{prefix}split{split.group(1)}.{split.group(2)}"] = state_dict.pop(key)


class ConditionalFlowNet(nn.Module):
    """x (B, C, H, W) <-> latents {level: z}, conditioned on one feature map per level (SRFlow's FlowUpsamplerNet,
    official code codes/models/modules/FlowUpsamplerNet.py).

    Levels are numbered 1..L; level l works at 1/2^l of the input side. Child `level{l}` runs `squeeze`, then
    `transition1..n_transition` (FlowStep: actnorm, invconv) and `step1..K` (FlowStep: actnorm, invconv, coupling,
    injector); child `split{l}` follows when l is in `split_levels`. So a layer's name reads as its place, e.g.
    `level2.step7.coupling`. The latents are the eps of every split level and the final z of level L, returned as a
    dict keyed by level, so per-level parameters pair with them by name.

    Args:
        in_channels: image channels.
        L: number of levels; H and W must be multiples of 2^L.
        K: conditional steps per level.
        hidden_channels: width of the coupling and injector nets.
        n_transition: unconditional ActNorm + 1x1-conv steps after each squeeze.
        split_levels: 1-based levels (< L) ending with a Split. The official model splits only after
            level 1, i.e. (1,): FlowUpsamplerNet.arch_split splits levels below L - 1 (an SRFlow leftover).
        eps: lower bound of the coupling scales.
        cond_channels: channels of every conditioning map.
        domain_split_prior: the splits' priors get a correction of the degraded domain (see Split).
    """

    def __init__(self, in_channels: int = 3, L: int = 3, K: int = 16, hidden_channels: int = 64,
                 n_transition: int = 2, split_levels=(1,), eps: float = 1e-3, cond_channels: int = 320,
                 domain_split_prior: bool = False):
        super().__init__()
        split_levels = set(split_levels)
        if not split_levels <= set(range(1, L)):
            raise UserError(f"network_g.split_levels: levels are 1-based and below L={L}, got {sorted(split_levels)}")
        self.L = L
        self.n_transition = n_transition
        self.split_levels = split_levels
        self.latent_channels: dict[int, int] = {}
        splits = {}
        channels = in_channels
        for level in range(1, L + 1):
            channels *= 4
            layers = {"squeeze": Squeeze()}
            layers.update({f"transition{t}": FlowStep(channels) for t in range(1, n_transition + 1)})
            layers.update({f"step{k}": FlowStep(channels, cond_channels, hidden_channels, eps)
                           for k in range(1, K + 1)})
            self.add_module(f"level{level}", FlowSequence(layers))
            if level in split_levels:
                splits[f"split{level}"] = Split(channels, domain_split_prior)
                self.latent_channels[level] = channels - channels // 2
                channels //= 2
        self.latent_channels[L] = channels
        for name, split in splits.items():  # registered after every level: the parameter order of earlier checkpoints
            self.add_module(name, split)
        self.register_load_state_dict_pre_hook(_rename_old_keys)

    def latent_shapes(self, batch: int, height: int, width: int) -> dict[int, tuple[int, int, int, int]]:
        """The shape of every latent for an input of (batch, in_channels, height, width)."""
        return {level: (batch, c, height >> level, width >> level) for level, c in self.latent_channels.items()}

    def _check_conds(self, conds):
        if len(conds) != self.L:
            raise ValueError(f"expected {self.L} conditioning maps (one per level), got {len(conds)}")

    def encode(self, x: torch.Tensor, conds, label=None) -> tuple[dict[int, torch.Tensor], torch.Tensor]:
        """x and conds (one map per level, level 1 first) -> ({level: latent}, logdet (B,)). `label` (the domain
        of x) matters only to splits with a domain prior."""
        self._check_conds(conds)
        latents = {}
        logdet = x.new_zeros(x.shape[0])
        for level, cond in enumerate(conds, 1):
            x, step_logdet = self.get_submodule(f"level{level}")(x, cond)
            logdet = logdet + step_logdet
            if level in self.split_levels:
                (x, latents[level]), split_logdet = self.get_submodule(f"split{level}")(x, label=label)
                logdet = logdet + split_logdet
        latents[self.L] = x
        return latents, logdet

    def decode(self, latents: dict[int, torch.Tensor], conds, generator: torch.Generator | None = None, label=None):
        """{level: latent} and conds -> (x, logdet (B,) of decoding), x of domain `label`. A missing split latent is
        drawn from N(0, I) with `generator`; the level-L latent is required."""
        self._check_conds(conds)
        x = latents[self.L]
        logdet = x.new_zeros(x.shape[0])
        for level in range(self.L, 0, -1):
            if level in self.split_levels:
                x, split_logdet = self.get_submodule(f"split{level}")((x, latents.get(level)), reverse=True,
                                                                      generator=generator, label=label)
                logdet = logdet + split_logdet
            x, step_logdet = self.get_submodule(f"level{level}")(x, conds[level - 1], reverse=True)
            logdet = logdet + step_logdet
        return x, logdet
