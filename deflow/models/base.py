"""The contract between a model type and the trainer, for every family.

A model owns its networks (`self.nets[name]`, built from the config's `network_<name>`), their EMA copies and any
state of its own (queues, momentum encoders). The trainer owns the optimizers, schedulers, AMP, DDP, the non-finite
guard and checkpoints. Training calls `model.setup_training()` once, after building the model; then one
iteration, as the trainer runs it:

    shared = model.forward_train(batch)               # the forward pass its stages share (a GAN's fake images)
    for name in model.stages(iteration):              # the networks that step now (D warm-up, D every k, ...)
        losses = model.losses(batch, shared, name)    # {loss: scalar}; their sum is back-propagated into nets[name]
    if every loss and gradient is finite on every process:
        every staged optimizer steps (AMP's scaler updates once), then model.after_step(iteration); the losses
        are logged, and model.log_values() beside them
    else:
        nothing steps: all weights, optimizer states and EMAs stay exactly as they were

All stages' losses are computed before any optimizer steps, so stages of one iteration see the same weights (as in
BasicSR's SRGANModel, whose D loss uses G's output before G's step). Each loss reaches only the parameters of its
own network, so networks staged together must not share parameters.

Class attributes:
    NETWORKS         the `network_<name>` sections it builds; each may start from `path.pretrain_network_<name>`
                     (with `path.strict_load_<name>`, `path.param_key_<name>`)
    INFER_NETWORKS   the networks inference uses (None: all of NETWORKS); an inference config needs only their
                     sections and weights, as BasicSR's test options hold network_g alone
    TRAINED          the networks with an optimizer `train.optim_<name>` and a schedule `train.scheduler_<name>`
                     (default `train.scheduler`); () for a model that does not train (a classical pipeline)
    INFER_INPUT      what `infer` takes: "image" (N, 3, h, w), "burst" (N, T, 3, h, w), or None (not a restorer)
    OPTIONS          schema additions of this model type (see deflow.config)
    EXAMPLE_SECTIONS sample typed sections, so `--schema` can list their keys
    VAL_METRICS, LOWER_IS_BETTER   what `validate` returns, and which of those improve downwards

Methods a model type implements: `losses` (if it trains), `validate`, `infer` (if it restores); it may override
`setup_training`, `forward_train`, `stages`, `after_step` (call super() to keep the EMA), `log_values`, `visuals`,
`explain_nonfinite`, `state` / `load_state` (call super() and add its own tensors, so resume stays exact).
"""
import copy

import torch
from torch import nn

from deflow import checkpoint
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


def has_weights(net: nn.Module) -> bool:
    """Whether a network has anything to load: a classical pipeline (no parameters) needs no checkpoint."""
    return any(True for _ in net.parameters())


def network_weights(state: dict, name: str, param_key: str = "params") -> dict | None:
    """The weights of network `name` in a loaded file, `module.` prefixes stripped: a deflow checkpoint's nets (its
    ema for param_key params_ema), an exported weights file's (the weights inference uses), a BasicSR file's
    {params, params_ema}, or a bare state_dict; None if absent."""
    if "model" in state:  # a deflow checkpoint
        weights = state["model"]["ema" if param_key == "params_ema" else "nets"].get(name)
    elif "inference_weights" in state:  # scripts/export_weights.py
        weights = state["inference_weights"].get(name)
    else:
        weights = state.get(param_key, state)
    return None if weights is None else {k.removeprefix("module."): v for k, v in weights.items()}


def inference_weights(state: dict, name: str, path) -> dict:
    """Network `name`'s weights as inference uses them: the EMA where the file kept one."""
    has_ema = name in state["model"]["ema"] if "model" in state else "params_ema" in state
    weights = network_weights(state, name, "params_ema" if has_ema else "params")
    if not weights:
        raise UserError(f"{path}: holds no weights for network {name!r}")
    return weights


class BaseModel:
    NETWORKS: tuple[str, ...] = ("g",)
    INFER_NETWORKS: tuple[str, ...] | None = None
    TRAINED: tuple[str, ...] = ("g",)
    INFER_INPUT: str | None = None
    OPTIONS: dict = {}
    EXAMPLE_SECTIONS: dict = {}
    VAL_METRICS: tuple[str, ...] = ()
    LOWER_IS_BETTER: frozenset = frozenset()

    def __init__(self, opt: dict, device: torch.device):
        self.opt = opt
        self.device = device
        self.nets = nn.ModuleDict()
        self.emas: dict[str, EMA] = {}
        self.memory_format = torch.contiguous_format
        unknown = [m for m in opt["val"]["metrics"] if m not in self.VAL_METRICS]
        if unknown:
            raise UserError(f"val.metrics: {unknown[0]!r} is not available for {type(self).__name__}; "
                            f"choose from {', '.join(self.VAL_METRICS) or 'none'}")

    @classmethod
    def inference_networks(cls) -> tuple[str, ...]:
        return cls.INFER_NETWORKS or cls.NETWORKS

    def keep_ema(self, name: str, decay: float) -> None:
        if decay > 0:
            self.emas[name] = EMA(decay)

    def parameters(self, name: str) -> list[nn.Parameter]:
        return [p for p in self.nets[name].parameters() if p.requires_grad]

    def net_for_inference(self, name: str) -> nn.Module:
        ema = self.emas.get(name)
        return ema.net if ema is not None and ema.net is not None else unwrap(self.nets[name])

    def to_device(self, batch: dict) -> dict:
        """The batch's tensors on the model's device, its images (4-D) in the networks' memory format."""
        return {k: v.to(self.device, non_blocking=True,
                        memory_format=self.memory_format if v.dim() == 4 else torch.preserve_format)
                if torch.is_tensor(v) else v for k, v in batch.items()}

    def use_channels_last(self) -> None:
        """Every network's 4-D weights, and from now on every batch's images, in channels_last (train.channels_last)."""
        self.memory_format = torch.channels_last
        self.nets.to(memory_format=torch.channels_last)

    def train(self, mode: bool = True) -> None:
        self.nets.train(mode)

    # ---- one training iteration (see the module docstring)
    def setup_training(self) -> None:
        """Build what training alone needs (e.g. a loss network); the trainer calls it once, inference never does."""

    def forward_train(self, batch: dict) -> dict:
        return {}

    def stages(self, iteration: int) -> tuple[str, ...]:
        """The networks stepped at `iteration` (counted from 1), in order."""
        return self.TRAINED

    def losses(self, batch: dict, shared: dict, stage: str) -> dict:
        raise NotImplementedError

    def after_step(self, iteration: int) -> None:
        for name, ema in self.emas.items():
            ema.update(unwrap(self.nets[name]))

    def log_values(self) -> dict:
        """{name: scalar tensor} logged beside the losses of the iteration that stepped (e.g. a GAN's mean D
        outputs); never back-propagated."""
        return {}

    # ---- evaluation
    def validate(self, batch: dict) -> dict:
        """{metric: [value per image]} for one validation batch."""
        raise NotImplementedError

    def visuals(self, batch: dict) -> dict:
        """{name: (N, 3, H, W) image} for tensorboard."""
        return {}

    def explain_nonfinite(self, batch: dict) -> str:
        """Where a non-finite value came from (e.g. the first flow layer), for the log; '' if unknown."""
        return ""

    def infer(self, inputs: torch.Tensor) -> torch.Tensor:
        """The restored image batch (eval mode, EMA weights when kept); see INFER_INPUT."""
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

    def load_configured_weights(self) -> list[str]:
        """Load path.pretrain_network_<name> (with strict_load_<name>, param_key_<name>) into every network that has
        one; returns the names of the networks loaded."""
        paths = self.opt["path"]
        loaded = [name for name in self.NETWORKS if paths[f"pretrain_network_{name}"]]
        for name in loaded:
            self.load_pretrained(name, paths[f"pretrain_network_{name}"], paths[f"param_key_{name}"],
                                 paths[f"strict_load_{name}"])
        return loaded

    def load_pretrained(self, name: str, path: str, param_key: str = "params", strict: bool = True) -> None:
        """Start network `name` from trained weights: a deflow checkpoint (nets / ema), an exported .safetensors
        file or a BasicSR file ({params, params_ema})."""
        weights = network_weights(checkpoint.load(path), name, param_key)
        if weights is None:
            raise UserError(f"{path}: holds no {param_key} weights for network {name!r}")
        self.load_weights(name, weights, path, strict)

    def load_weights(self, name: str, weights: dict, source, strict: bool = True) -> None:
        try:
            unwrap(self.nets[name]).load_state_dict(weights, strict=strict)
        except RuntimeError as exc:
            detail = " ".join(line.strip() for line in str(exc).strip().splitlines()[1:2])[:300]
            raise UserError(f"{source}: weights do not fit network_{name} ({detail}); check network_{name} and scale, "
                            f"or set path.strict_load_{name}: false") from None
