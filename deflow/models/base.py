"""The contract between a model type and the trainer.

A model owns its networks (`self.nets`, a ModuleDict) and their EMA copies. The trainer owns the
optimizers, schedulers, AMP, DDP and checkpoints, and drives a model only through:

    STAGES                      names of optimizers, one `train.optim_<stage>` each, stepped in this order
    parameters(stage)           what that optimizer updates
    losses(batch, stage)        {name: scalar tensor}; their sum is back-propagated for that stage
    update_ema()                after the optimizer steps
    validate(batch)             {metric: [value per image]} for one validation batch
    visuals(batch)              {name: (N, 3, H, W) image} for tensorboard
    explain_nonfinite(batch)    where a non-finite loss came from, for the log
    infer(lq)                   the model's output for an input batch (eval mode, EMA weights when kept)
"""
import copy

import torch
from torch import nn

from deflow.errors import UserError


class EMA:
    """Exponential moving average of a network's parameters *and* buffers (BasicSR averages parameters only).

    The decay warms up as min(decay, (1 + n) / (10 + n)) after n updates, so a short run's average is not
    dominated by the random initial weights (with a fixed 0.999, 600 iterations leave 55 % of them in it)."""

    def __init__(self, decay: float):
        self.decay = decay
        self.steps = 0
        self.net: nn.Module | None = None  # copied from the live network at the first update

    @torch.no_grad()
    def update(self, net: nn.Module) -> None:
        self.steps += 1
        if self.net is None:
            self.net = copy.deepcopy(net).eval().requires_grad_(False)
            return
        decay = min(self.decay, self.steps / (self.steps + 9))
        for avg, live in zip(self.net.state_dict().values(), net.state_dict().values()):
            if avg.is_floating_point():
                avg.lerp_(live, 1.0 - decay)
            else:
                avg.copy_(live)


def unwrap(net: nn.Module) -> nn.Module:
    """The network inside a DDP wrapper (or the network itself)."""
    return net.module if isinstance(net, nn.parallel.DistributedDataParallel) else net


class BaseModel:
    STAGES: tuple[str, ...] = ("g",)
    OPTIONS: dict = {}             # schema additions of this model type (see deflow.config)
    EXAMPLE_SECTIONS: dict = {}    # sample typed sections, so `--schema` can list their keys
    VAL_METRICS: tuple[str, ...] = ()
    LOWER_IS_BETTER: frozenset = frozenset()

    def __init__(self, opt: dict, device: torch.device):
        self.opt = opt
        self.device = device
        self.nets = nn.ModuleDict()
        self.emas: dict[str, EMA] = {}
        unknown = [m for m in opt["val"]["metrics"] if m not in self.VAL_METRICS]
        if unknown:
            raise UserError(f"val.metrics: {unknown[0]!r} is not available for {type(self).__name__}; "
                            f"choose from {', '.join(self.VAL_METRICS)}")

    def keep_ema(self, name: str, decay: float) -> None:
        if decay > 0:
            self.emas[name] = EMA(decay)

    def parameters(self, stage: str):
        return [p for p in self.nets[stage].parameters() if p.requires_grad]

    def update_ema(self) -> None:
        for name, ema in self.emas.items():
            ema.update(unwrap(self.nets[name]))

    def net_for_inference(self, name: str) -> nn.Module:
        ema = self.emas.get(name)
        return ema.net if ema is not None and ema.net is not None else unwrap(self.nets[name])

    def to_device(self, batch: dict) -> dict:
        return {k: v.to(self.device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}

    def train(self, mode: bool = True) -> None:
        self.nets.train(mode)

    def losses(self, batch: dict, stage: str) -> dict:
        raise NotImplementedError

    def validate(self, batch: dict) -> dict:
        raise NotImplementedError

    def visuals(self, batch: dict) -> dict:
        return {}

    def explain_nonfinite(self, batch: dict) -> str:
        """Where a non-finite value came from (e.g. the first flow layer), for the log; '' if unknown."""
        return ""

    def infer(self, lq: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    # ---- state, for checkpoints
    def state(self) -> dict:
        return {
            "nets": {name: unwrap(net).state_dict() for name, net in self.nets.items()},
            "ema": {name: ema.net.state_dict() for name, ema in self.emas.items() if ema.net is not None},
            "ema_steps": {name: ema.steps for name, ema in self.emas.items()},
        }

    def load_state(self, state: dict) -> None:
        for name, net in self.nets.items():
            unwrap(net).load_state_dict(state["nets"][name])
        for name, ema in self.emas.items():
            if name in state["ema"]:
                ema.net = copy.deepcopy(unwrap(self.nets[name])).eval().requires_grad_(False)
                ema.net.load_state_dict(state["ema"][name])
                ema.steps = state["ema_steps"][name]

    def load_pretrained(self, name: str, path: str, param_key: str = "params", strict: bool = True) -> None:
        """Start from trained weights: a deflow checkpoint (nets / ema) or a BasicSR file ({params, params_ema})."""
        from deflow import checkpoint

        state = checkpoint.load(path)
        if "model" in state:  # a deflow checkpoint
            weights = state["model"]["ema" if param_key == "params_ema" else "nets"].get(name)
        else:
            weights = state.get(param_key, state)
        if weights is None:
            raise UserError(f"{path}: holds no {param_key} weights for network {name!r}")
        weights = {k.removeprefix("module."): v for k, v in weights.items()}
        try:
            unwrap(self.nets[name]).load_state_dict(weights, strict=strict)
        except RuntimeError as exc:
            detail = " ".join(line.strip() for line in str(exc).strip().splitlines()[1:2])[:300]
            raise UserError(f"{path}: weights do not fit network_{name} ({detail}); check network_{name} and scale, "
                            f"or set path.strict_load_{name}: false") from None
