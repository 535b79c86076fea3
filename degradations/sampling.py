"""Parameter specs of pipeline steps and how to draw from them.

A spec is one of:
    value                          a constant (number, string, bool, null)
    [lo, hi]                       two numbers: uniform on [lo, hi] (integers, both ends included, when
                                   the parameter is an integer)
    [a, b, c, ...]                 any other list: one item, uniformly; items are specs themselves
    {choices: [...], weights: [...]}  one item with the given weights (weights optional)
    {range: [lo, hi]}              uniform, as [lo, hi]; {log_uniform: [lo, hi]}: log-uniform
    {by_scale: {2: spec, 4: spec}} the spec for the pipeline's scale (resolved when the pipeline loads)
Draws use a CPU torch.Generator in float64, so the same seed gives the same values everywhere.
"""
import math
import numbers

import torch

from deflow.errors import UserError

_FORMS = ("choices", "range", "log_uniform", "by_scale")


def _is_number(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _is_range(spec) -> bool:
    return isinstance(spec, list) and len(spec) == 2 and all(_is_number(v) for v in spec)


def _pair(value, where: str) -> tuple[float, float]:
    if not _is_range(value):
        raise UserError(f"{where}: expected [lo, hi] (two numbers), got {value!r}")
    return value[0], value[1]


def resolve(spec, scale: float, where: str):
    """Replace every {by_scale: ...} by the entry for `scale` and check the spec's form."""
    if isinstance(spec, list):
        if not spec:
            raise UserError(f"{where}: empty list; give a value, [lo, hi] or a list of choices")
        return [resolve(item, scale, where) for item in spec]
    if not isinstance(spec, dict):
        return spec
    forms = [key for key in spec if key in _FORMS]
    extra = set(spec) - set(_FORMS) - {"weights"}
    if len(forms) != 1 or extra:
        raise UserError(f"{where}: a dict spec has exactly one of {', '.join(_FORMS)} (and weights with choices), "
                        f"got keys {sorted(spec)}")
    form = forms[0]
    if form == "by_scale":
        table = {float(k): v for k, v in spec["by_scale"].items()}
        if float(scale) not in table:
            known = ", ".join(f"{k:g}" for k in table)
            raise UserError(f"{where}: no entry for scale {scale:g} in by_scale (has {known})")
        return resolve(table[float(scale)], scale, where)
    if form == "choices":
        choices = resolve(list(spec["choices"]), scale, where)
        weights = spec.get("weights", [1.0] * len(choices))
        if len(weights) != len(choices) or any(not _is_number(w) or w < 0 for w in weights) or sum(weights) <= 0:
            raise UserError(f"{where}: weights must be {len(choices)} non-negative numbers, got {weights!r}")
        return {"choices": choices, "weights": [float(w) for w in weights]}
    lo, hi = _pair(spec[form], where)
    if form == "log_uniform" and lo <= 0:
        raise UserError(f"{where}: log_uniform needs lo > 0, got {lo}")
    return {form: [lo, hi]}


def _uniform(generator: torch.Generator) -> float:
    return torch.rand((), generator=generator, dtype=torch.float64).item()


def sample(spec, generator: torch.Generator, integer: bool = False):
    """One draw from a resolved spec; `integer` makes ranges draw integers (both ends included)."""
    if _is_range(spec):
        spec = {"range": spec}
    if isinstance(spec, list):
        spec = {"choices": spec, "weights": [1.0] * len(spec)}
    if not isinstance(spec, dict):
        return spec
    if "choices" in spec:
        weights = torch.tensor(spec["weights"], dtype=torch.float64)
        cumulative = torch.cumsum(weights / weights.sum(), 0)
        index = min(int(torch.searchsorted(cumulative, _uniform(generator), right=True)), len(cumulative) - 1)
        return sample(spec["choices"][index], generator, integer)
    if "log_uniform" in spec:
        lo, hi = spec["log_uniform"]
        return math.exp(math.log(lo) + (math.log(hi) - math.log(lo)) * _uniform(generator))
    lo, hi = spec["range"]
    if integer:
        return int(lo) + min(int(_uniform(generator) * (int(hi) - int(lo) + 1)), int(hi) - int(lo))
    return lo + (hi - lo) * _uniform(generator)
