"""Random degradation pipelines described as data (YAML), applied batched on the input's device.

A pipeline file is a list of steps, or a mapping with `steps:` (and an optional `description:`):

    - op: blur                   # a name registered in DEGRADATIONS (see degradations.ops)
      prob: 0.8                  # per image (per batch for size-changing ops); default 1
      params: {kernel: iso, sigma_x: [0.2, 3.0]}   # specs, see degradations.sampling
    - shuffle: [step, step, ...]  # the steps in a random order (per batch)
      prob: 1.0                  # probability of shuffling (else the listed order)
      keep_order: [1, 2]         # optional: these items keep their relative order
    - one_of: [[step, ...], [step, ...]]   # one branch per batch
      weights: [0.5, 0.5]

Parameters are drawn per image from a CPU torch.Generator; noise is drawn on the input's device from a
generator seeded by it. The same seed, input and device give bit-identical output.
"""
import difflib
from importlib import resources
from pathlib import Path

import torch
import yaml

from deflow.errors import UserError
from deflow.registry import DEGRADATIONS
from degradations import ops  # noqa: F401  (fills DEGRADATIONS)
from degradations.ops import Context
from degradations.sampling import resolve, sample


def preset_names() -> list[str]:
    """Names of the pipelines shipped in degradations/presets."""
    return sorted(p.name[:-5] for p in resources.files("degradations.presets").iterdir() if p.name.endswith(".yaml"))


def _check_keys(step: dict, allowed: set, where: str):
    for key in step:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), sorted(allowed), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; allowed: {', '.join(sorted(allowed))}"
            raise UserError(f"{where}: unknown key {key!r}{hint}")


def _probability(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise UserError(f"{where}: prob must be a number in [0, 1], got {value!r}")
    return float(value)


class OpStep:
    def __init__(self, step: dict, scale: float, where: str):
        _check_keys(step, {"op", "prob", "params"}, where)
        self.name = step["op"]
        where = f"{where} (op {self.name!r})"
        self.fn = DEGRADATIONS.get(self.name)
        self.prob = _probability(step.get("prob", 1.0), where)
        given = step.get("params") or {}
        if not isinstance(given, dict):
            raise UserError(f"{where}: params must be a mapping, got {given!r}")
        _check_keys(given, set(self.fn.defaults), f"{where} params")
        self.params = {k: resolve(v, scale, f"{where} param {k!r}") for k, v in {**self.fn.defaults, **given}.items()}
        self.integer = {k for k, v in self.fn.defaults.items() if isinstance(v, int) and not isinstance(v, bool)}

    def _draw(self, generator) -> dict:
        return {k: sample(spec, generator, k in self.integer) for k, spec in self.params.items()}

    def __call__(self, x: torch.Tensor, ctx: Context) -> torch.Tensor:
        if self.fn.per_batch:
            params = self._draw(ctx.generator)
            return self.fn(x, params, ctx) if self.prob >= 1 or ctx.uniform() < self.prob else x
        rows = [self._draw(ctx.generator) for _ in range(x.shape[0])]
        chosen = [i for i in range(x.shape[0]) if self.prob >= 1 or ctx.uniform() < self.prob]
        if not chosen:
            return x
        params = {k: [rows[i][k] for i in chosen] for k in self.params}
        if len(chosen) == x.shape[0]:
            return self.fn(x, params, ctx)
        index = torch.tensor(chosen, device=x.device)
        out = x.clone()
        out[index] = self.fn(x[index], params, ctx).to(x.dtype)
        return out


class Shuffle:
    def __init__(self, step: dict, scale: float, where: str):
        _check_keys(step, {"shuffle", "prob", "keep_order"}, where)
        self.items = parse_steps(step["shuffle"], scale, f"{where} shuffle")
        self.prob = _probability(step.get("prob", 1.0), where)
        self.keep_order = list(step.get("keep_order", []))
        if any(not isinstance(i, int) or not 0 <= i < len(self.items) for i in self.keep_order):
            raise UserError(f"{where}: keep_order holds indices into the shuffle list (0..{len(self.items) - 1}), "
                            f"got {self.keep_order!r}")

    def __call__(self, x: torch.Tensor, ctx: Context) -> torch.Tensor:
        order = list(range(len(self.items)))
        if self.prob >= 1 or ctx.uniform() < self.prob:
            order = torch.randperm(len(self.items), generator=ctx.generator).tolist()
            slots = sorted(order.index(i) for i in self.keep_order)
            for slot, item in zip(slots, sorted(self.keep_order)):
                order[slot] = item
        for i in order:
            x = self.items[i](x, ctx)
        return x


class OneOf:
    def __init__(self, step: dict, scale: float, where: str):
        _check_keys(step, {"one_of", "weights"}, where)
        branches = step["one_of"]
        if not isinstance(branches, list) or not branches:
            raise UserError(f"{where}: one_of must be a non-empty list of branches")
        self.branches = [parse_steps(b if isinstance(b, list) else [b], scale, f"{where} branch {i}")
                         for i, b in enumerate(branches)]
        weights = step.get("weights", [1.0] * len(branches))
        self.choice = resolve({"choices": list(range(len(branches))), "weights": weights}, scale, where)

    def __call__(self, x: torch.Tensor, ctx: Context) -> torch.Tensor:
        for item in self.branches[sample(self.choice, ctx.generator)]:
            x = item(x, ctx)
        return x


_FORMS = {"op": OpStep, "shuffle": Shuffle, "one_of": OneOf}


def parse_steps(steps, scale: float, where: str) -> list:
    if not isinstance(steps, list):
        raise UserError(f"{where}: expected a list of steps, got {type(steps).__name__}")
    parsed = []
    for i, step in enumerate(steps):
        here = f"{where} step {i}"
        forms = [key for key in _FORMS if isinstance(step, dict) and key in step]
        if len(forms) != 1:
            raise UserError(f"{here}: a step is a mapping with exactly one of 'op', 'shuffle', 'one_of'; got {step!r}")
        parsed.append(_FORMS[forms[0]](step, scale, here))
    return parsed


class Pipeline:
    """HR -> LR by a list of random steps. `pipeline(hr, generator)`: hr (B, 3, H, W) float in [0, 1],
    H and W multiples of `scale` (else the LR size is floor(H / scale)); returns (B, 3, H/scale, W/scale)
    in [0, 1] on hr's device. `generator`: a CPU torch.Generator (None: a fresh, randomly seeded one)."""

    def __init__(self, steps: list, scale: float, name: str = "pipeline", description: str = ""):
        self.scale, self.name, self.description = float(scale), name, description
        self.steps = parse_steps(steps, self.scale, f"pipeline {name!r}")

    @classmethod
    def from_config(cls, config, scale: float, name: str = "pipeline") -> "Pipeline":
        """From parsed YAML: a list of steps or {steps: [...], description: ...}."""
        if isinstance(config, dict):
            _check_keys(config, {"steps", "description"}, f"pipeline {name!r}")
            if "steps" not in config:
                raise UserError(f"pipeline {name!r}: a mapping needs a 'steps:' list")
            return cls(config["steps"], scale, name, str(config.get("description", "")))
        return cls(config, scale, name)

    @classmethod
    def from_name_or_file(cls, name_or_path: str | Path, scale: float) -> "Pipeline":
        """A preset name (see `preset_names()`) or the path of a YAML file."""
        text = str(name_or_path)
        if text.endswith((".yaml", ".yml")) or "/" in text or Path(text).is_file():
            path = Path(text)
            if not path.is_file():
                raise UserError(f"{path}: pipeline file not found")
            source, name = path.read_text(), str(path)
        else:
            names = preset_names()
            if text not in names:
                close = difflib.get_close_matches(text, names, n=1)
                hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(names)}"
                raise UserError(f"unknown degradation pipeline {text!r}; {hint} (or give a .yaml file)")
            source, name = resources.files("degradations.presets").joinpath(f"{text}.yaml").read_text(), text
        try:
            config = yaml.safe_load(source)
        except yaml.YAMLError as exc:
            raise UserError(f"{name}: invalid YAML: {' '.join(str(exc).split())}") from None
        return cls.from_config(config, scale, name)

    def __call__(self, hr: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if hr.dim() != 4:
            raise ValueError(f"pipeline input must be (B, C, H, W), got shape {tuple(hr.shape)}")
        if generator is None:
            generator = torch.Generator()
            generator.seed()
        ctx = Context(generator, tuple(hr.shape[-2:]), self.scale)
        x = hr.float()
        for step in self.steps:
            x = step(x, ctx)
        if tuple(x.shape[-2:]) != ctx.lr_size:
            raise UserError(f"pipeline {self.name!r} made {x.shape[-2]}x{x.shape[-1]} images from "
                            f"{hr.shape[-2]}x{hr.shape[-1]}, expected {ctx.lr_size[0]}x{ctx.lr_size[1]} for scale "
                            f"{self.scale:g}; end it with a resize step with relative_to: lr")
        return x.clamp(0, 1)

    def __repr__(self) -> str:
        return f"Pipeline({self.name!r}, scale={self.scale:g}, {len(self.steps)} steps)"
