"""Schemas: the declared keys of an option section and their checking.

A schema is a dict {key: Key(type, default, doc, minimum, maximum)}, nested dicts of them, or callables for sections
whose keys depend on their `type`. `signature_schema` derives one from a constructor: model types, datasets,
architectures and h functions declare their keys where they take them.
"""
import collections.abc
import copy
import inspect
import re
import typing
from dataclasses import dataclass

from deflow.errors import UserError
from deflow.registry import nearest


class _Required:
    def __repr__(self):
        return "required"


REQUIRED = _Required()


@dataclass(frozen=True)
class Key:
    """One option: its type (or tuple of types), default (REQUIRED if none), a one-line meaning, and the range a
    number must lie in (inclusive; None: unbounded)."""
    type: type | tuple
    default: object = REQUIRED
    doc: str = ""
    minimum: float | None = None
    maximum: float | None = None

    def range_error(self, value) -> str | None:
        """What is out of range about `value`, or None (values that are not numbers are the type check's)."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        if self.minimum is not None and value < self.minimum:
            return f"must be at least {self.minimum}, got {value!r}"
        if self.maximum is not None and value > self.maximum:
            return f"must be at most {self.maximum}, got {value!r}"
        return None


_ANY = (int, float, str, bool, list, dict, type(None))


def _is(value, types) -> bool:
    types = types if isinstance(types, tuple) else (types,)
    if isinstance(value, bool):
        return bool in types
    if float in types and isinstance(value, int):
        return True
    return isinstance(value, types)


def type_name(types) -> str:
    if types == _ANY:
        return "any"
    types = types if isinstance(types, tuple) else (types,)
    return " or ".join("null" if t is type(None) else t.__name__ for t in types)


def _unknown(path: str, key: str, known) -> UserError:
    msg = f"{path}{key}: unknown key"
    close = nearest(key, known)
    if close:
        msg += f"; did you mean {path}{close}?"
    else:
        msg += f"; known keys here: {', '.join(sorted(known))}"
    return UserError(msg)


def validate(section: dict, schema: dict, path: str = "") -> dict:
    """Check `section` against `schema` and return it with defaults filled.

    A schema maps names to `Key`s, to nested schemas (dicts) or to callables `f(section, path) -> schema` for
    sections whose keys depend on their `type` (networks, optimizers, datasets); such a callable gets None for an
    absent section and returns None when the section may stay absent (it is then None in the result)."""
    if not isinstance(section, dict):
        raise UserError(f"{path.rstrip('.')}: expected a section (mapping), got {type(section).__name__}")
    out = {}
    for key, value in section.items():
        if key not in schema:
            raise _unknown(path, key, schema)
    for key, spec in schema.items():
        here = f"{path}{key}"
        if callable(spec) and not isinstance(spec, Key):
            value = section.get(key)
            sub_schema = spec(value, here)
            out[key] = None if sub_schema is None else validate(value or {}, sub_schema, here + ".")
        elif isinstance(spec, dict):
            out[key] = validate(section.get(key) or {}, spec, here + ".")
        elif key in section:
            value = section[key]
            if not (value is None and spec.default is None) and not _is(value, spec.type):
                raise UserError(f"{here}: expected {type_name(spec.type)}, got {type(value).__name__} {value!r}")
            if spec.range_error(value):
                raise UserError(f"{here}: {spec.range_error(value)}")
            out[key] = value
        elif spec.default is REQUIRED:
            raise UserError(f"{here}: required key missing ({spec.doc})")
        else:
            out[key] = copy.deepcopy(spec.default)
    return out


def signature_schema(fn, skip=("self",), docs: dict | None = None) -> dict:
    """Keys from a constructor's keyword arguments: type from the default (or annotation), meaning from `Args:`."""
    docs = docs if docs is not None else docstring_args(fn)
    schema = {}
    for name, param in inspect.signature(fn).parameters.items():
        if name in skip or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        default = REQUIRED if param.default is param.empty else param.default
        schema[name] = Key(_infer_type(default, param.annotation), default, docs.get(name, ""))
    return schema


_SEQUENCES = (list, tuple, collections.abc.Iterable, collections.abc.Sequence)
_SEQUENCE_TEXT = re.compile(r"^(list|tuple|List|Tuple|Iterable|Sequence)\[")  # a postponed annotation, e.g. torch's


def _infer_type(default, annotation):
    """The annotation when it is a plain type, a sequence (list[int], Iterable[int]: a YAML list) or a Union with
    float in it, else the default's type."""
    args = typing.get_args(annotation)
    if annotation is float or float in args:
        return (float, type(None)) if default is None else float
    if typing.get_origin(annotation) in _SEQUENCES or isinstance(annotation, str) and _SEQUENCE_TEXT.match(annotation):
        return (list, tuple, type(None)) if default is None else (list, tuple)
    if isinstance(annotation, type) and annotation is not inspect.Parameter.empty:
        return (annotation, type(None)) if default is None else annotation
    if args and all(isinstance(a, type) for a in args):  # a Union such as str | None
        return args
    if default is None or default is REQUIRED:
        return _ANY
    if isinstance(default, tuple):
        return (list, tuple)
    return type(default)


def docstring_args(obj) -> dict:
    """Parse `name: meaning` lines of a Google-style `Args:` block (of the class, else of __init__)."""
    text = inspect.getdoc(obj) or ""
    if "Args:" not in text and inspect.isclass(obj):
        text = inspect.getdoc(obj.__init__) or ""
    docs, in_args = {}, False
    for line in text.splitlines():
        if line.strip() == "Args:":
            in_args = True
            continue
        match = re.match(r"^\s{2,}(\w+)(?: \(.*?\))?: (.*)", line) if in_args else None
        if match:
            docs[match.group(1)] = match.group(2).strip()
        elif in_args and line and not line.startswith(" "):
            in_args = False
    return docs
