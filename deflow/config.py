"""Options: YAML files with `include:` and `--set` overrides, validated against per-model-type schemas
(deflow/schema.py). Model types, datasets and architectures declare their own keys; `schema_for(model_type)`
assembles the full tree.
"""
import copy
import dataclasses
import inspect
import re
from pathlib import Path

import yaml

from deflow.errors import UserError
from deflow.optim import check_buildable, torch_optimizers, torch_schedulers
from deflow.schema import REQUIRED, Key, signature_schema, type_name, validate

# ---------------------------------------------------------------- YAML reading

class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads `1e-4` as a float (YAML 1.1 wants `1.0e-4`, a classic config trap)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)$|^[-+]?\d+\.\d*$|^[-+]?\.\d+$|^[-+]?\.(?:inf|Inf|INF)$|^\.(?:nan|NaN|NAN)$"),
    list("-+0123456789."),
)


def parse_value(text: str):
    """Type a command-line value the way YAML would (`100` -> int, `1e-4` -> float, `[1, 2]` -> list)."""
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError:
        return text


def read_yaml(path: Path) -> dict:
    if not path.is_file():
        raise UserError(f"{path}: config file not found")
    try:
        data = yaml.load(path.read_text(), Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise UserError(f"{path}{where}: invalid YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: a config must be a mapping of keys to values")
    return data


def deep_merge(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_yaml_with_includes(path: Path, _seen: tuple = ()) -> dict:
    """Read `path`; `include: base.yml` (or a list) merges those files first, relative to this one."""
    path = path.resolve()
    if path in _seen:
        raise UserError(f"{path}: include cycle ({' -> '.join(p.name for p in _seen + (path,))})")
    data = read_yaml(path)
    includes = data.pop("include", None) or []
    merged: dict = {}
    for inc in [includes] if isinstance(includes, str) else includes:
        merged = deep_merge(merged, load_yaml_with_includes(path.parent / inc, _seen + (path,)))
    return deep_merge(merged, data)


def parse_assignment(assignment: str, flag: str = "--set", example: str = "train.total_iter=100") -> tuple[str, object]:
    """`a.b.c=value` -> ("a.b.c", the value typed as YAML); `flag` and `example` name the option in errors."""
    dotted, sep, text = assignment.partition("=")
    if not sep or not dotted.strip():
        raise UserError(f"{flag} {assignment}: expected KEY=VALUE, e.g. {example}")
    return dotted.strip(), parse_value(text)


def apply_override(opt: dict, assignment: str, flag: str = "--set", example: str = "train.total_iter=100") -> None:
    """Apply one `--set a.b.c=value` (`flag` and `example` name the option in errors); creates missing sections."""
    dotted, value = parse_assignment(assignment, flag, example)
    *parents, leaf = dotted.split(".")
    node = opt
    for i, part in enumerate(parents):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise UserError(f"{flag} {dotted}: {'.'.join(parents[:i + 1])} is a value, not a section")
        node = child
    node[leaf] = value


# ---------------------------------------------------------------- the option tree

OPTIMIZER_MINIMUMS = {"lr": 0, "weight_decay": 0, "eps": 0, "momentum": 0}


def _typed_section(registry, kind: str, skip=("self",), required: str | None = None, minimums: dict | None = None):
    """Schema of a `{type: Name, ...constructor args}` section, looked up in `registry`. An absent section is
    allowed (None) unless `required` says why it is needed; `minimums` bound the arguments of those names, and a
    class's own MINIMUMS ({argument: least value}, e.g. an architecture's widths) bound its arguments too."""
    def schema(section: dict | None, path: str) -> dict | None:
        if section is None:
            if required:
                raise UserError(f"{path}: required section missing ({required}; type: a registered {kind})")
            return None
        if not isinstance(section, dict):
            raise UserError(f"{path}: expected a section (mapping) with a type, got {type(section).__name__}")
        if "type" not in section:
            raise UserError(f"{path}.type: required key missing (a registered {kind}: {', '.join(registry.names())})")
        if not isinstance(section["type"], str):
            raise UserError(f"{path}.type: expected the name of a registered {kind}, got {section['type']!r}")
        cls = registry.get(section["type"])
        keys = signature_schema(cls, skip=skip)
        bounds = {**(minimums or {}), **getattr(cls, "MINIMUMS", {})}
        keys |= {k: dataclasses.replace(keys[k], minimum=m) for k, m in bounds.items() if k in keys}
        return {"type": Key(str, REQUIRED, f"registered {kind} name"), **keys}
    return schema


DATASET_COMMON = {
    "name": Key(str, "", "a label for logs"),
    "type": Key(str, REQUIRED, "registered dataset type"),
    "phase": Key(str, "train", "train or val (set from the section name)"),
    "scale": Key(int, 1, "GT : LQ size ratio (set from the top-level scale)", minimum=1),
    "manual_seed": Key(int, 0, "seed of the per-item random crops (set from the top-level manual_seed)", minimum=0),
    "batch_size_per_gpu": Key(int, 1, "batch size of each process", minimum=1),
    "num_worker_per_gpu": Key(int, 0, "DataLoader worker processes of each process", minimum=0),
    "dataset_enlarge_ratio": Key(int, 1, "an epoch visits every item this many times", minimum=1),
}


def _datasets_schema(section: dict | None, path: str) -> dict:
    from deflow.registry import DATASETS

    if section is not None and not isinstance(section, dict):
        raise UserError(f"{path}: expected a section (mapping) of train and val datasets, got {type(section).__name__}")
    schema = {}
    for phase in section or {}:
        if phase not in ("train", "val", "test") and not phase.startswith(("val_", "test_")):
            raise UserError(f"{path}.{phase}: dataset sections are named train, val, val_<name> or test_<name>")

        def phase_schema(sub, sub_path):
            typed = _typed_section(DATASETS, "dataset type", required="a dataset")(sub, sub_path)
            cls = DATASETS.get(sub["type"])
            return {**DATASET_COMMON, **getattr(cls, "OPTIONS", {}), "type": typed["type"]}
        schema[phase] = phase_schema
    return schema


def common_schema(networks: tuple[str, ...], trained: tuple[str, ...], training: bool,
                  inference: tuple[str, ...] = ()) -> dict:
    """The keys every model type has; `networks` get network_<n> and path.*_<n>, `trained` ones train.optim_<n> and
    train.scheduler_<n>. Training sections are required only when `training` (inference needs none of them), and
    network sections then only for the `inference` networks."""
    from deflow.registry import ARCHS

    optimizer = _typed_section(torch_optimizers(), "optimizer", skip=("self", "params"),
                               required="needed to train, e.g. {type: Adam, lr: 2.0e-4}" if training else None,
                               minimums=OPTIMIZER_MINIMUMS)
    scheduler = _typed_section(torch_schedulers(), "scheduler", skip=("self", "optimizer", "last_epoch", "verbose"))
    path = {"experiments_root": Key((str, type(None)), None, "output folder (default experiments/<name>)")}
    for n in networks:
        path |= {
            f"pretrain_network_{n}": Key((str, type(None)), None, f"start network_{n} from these weights (fresh optimizer)"),
            f"param_key_{n}": Key(str, "params", "which weights of a checkpoint to load: params or params_ema"),
            f"strict_load_{n}": Key(bool, True, f"require the checkpoint to match network_{n} exactly"),
        }
    return {
        "name": Key(str, REQUIRED, "experiment name; outputs go to path.experiments_root (experiments/<name>)"),
        "model_type": Key(str, REQUIRED, "registered model type, e.g. SRModel or DeFlowModel"),
        "scale": Key(int, 1, "GT : LQ ratio; copied into network_g.scale and every dataset", minimum=1),
        "num_gpu": Key((int, str), "auto", "0 forces the CPU; 'auto' uses CUDA when present", minimum=0),
        "manual_seed": Key(int, 0, "seed of every random number generator", minimum=0),
        "datasets": _datasets_schema,
        **{f"network_{n}": _typed_section(ARCHS, "architecture", required=f"the model's network {n!r}"
                                          if training or n in inference else None) for n in networks},
        "path": path,
        "train": {
            "total_iter": Key(int, REQUIRED, "number of training iterations", minimum=1) if training
            else Key((int, type(None)), None, "number of training iterations", minimum=1),
            "warmup_iter": Key(int, 0, "linear learning-rate warm-up iterations (0 = none)", minimum=0),
            **{f"optim_{n}": optimizer for n in trained},
            "scheduler": scheduler,
            **{f"scheduler_{n}": scheduler for n in trained if len(trained) > 1},
            "ema_decay": Key(float, 0.0, "EMA of weights and buffers (0 = off; 0.999 in ESRGAN)", minimum=0, maximum=1),
            "grad_clip": Key((float, type(None)), None, "clip the gradient norm to this value (null = off)", minimum=0),
            "max_nonfinite": Key(int, 100, "stop after this many consecutive non-finite iterations", minimum=1),
            "amp": Key((str, type(None)), None, "mixed precision on CUDA: bf16, fp16 or null (CPU always fp32)"),
            "channels_last": Key(bool, False, "networks and 4-D batches in channels_last memory format (NHWC: "
                                 "faster convolutions on most CPUs and on CUDA tensor cores; the same results to "
                                 "rounding)"),
        },
        "val": {
            "val_freq": Key((int, type(None)), None, "validate every this many iterations (null = never)", minimum=1),
            "metrics": Key(list, [], "metrics to compute on the val datasets"),
            "metric_preset": Key(str, "rwsr_rgb", "metric convention: rwsr_rgb, basicsr_y or rgb"),
            "crop_border": Key((int, type(None)), None, "pixels cropped from each edge before scoring (null = scale)",
                               minimum=0),
            "lpips_backbone": Key((str, type(None)), None, "torchvision weights file of LPIPS's backbone "
                                  "(default: $DEFLOW_LPIPS_BACKBONE, then torchvision's cache)"),
            "save_img": Key(bool, False, "write validation outputs into the experiment folder"),
        },
        "logger": {
            "print_freq": Key(int, 100, "log losses every this many iterations", minimum=1),
            "save_checkpoint_freq": Key(int, 5000, "write a checkpoint every this many iterations", minimum=1),
            "keep_last": Key(int, 3, "how many periodic checkpoints to keep", minimum=1),
            "use_tb_logger": Key(bool, True, "write tensorboard scalars and images"),
            "num_val_images": Key(int, 2, "validation images logged to tensorboard", minimum=0),
        },
        "dist_params": {
            "backend": Key((str, type(None)), None, "DDP backend (default nccl on CUDA, gloo on CPU)"),
        },
    }


def schema_for(model_type: str, training: bool = True) -> dict:
    from deflow.registry import MODELS

    model = MODELS.get(model_type)
    base = common_schema(model.NETWORKS, model.TRAINED, training, model.inference_networks())
    return deep_merge_schema(base, getattr(model, "OPTIONS", {}))


def deep_merge_schema(base: dict, extra: dict) -> dict:
    """Like deep_merge, without copying: a schema's Keys must stay the same objects (REQUIRED is an identity)."""
    out = dict(base)
    for key, value in extra.items():
        out[key] = deep_merge_schema(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _propagate(opt: dict) -> None:
    """Copy the top-level scale and seed, and the network_g keys a dataset type takes from the network
    (its FROM_NETWORK, e.g. {"flow_levels": "L"}), into the sections that need them; a contradiction is an error."""
    from deflow.registry import ARCHS, DATASETS

    scale = opt.get("scale", 1)
    for section, net in opt.items():
        if section.startswith("network_") and isinstance(net, dict) and "type" in net:
            if "scale" in inspect.signature(ARCHS.get(net["type"])).parameters:
                if net.setdefault("scale", scale) != scale:
                    raise UserError(f"{section}.scale ({net['scale']}) disagrees with scale ({scale}); "
                                    "set only the top-level scale")
    net = opt.get("network_g")
    datasets = opt.get("datasets")
    for phase, ds in (datasets.items() if isinstance(datasets, dict) else ()):
        if not isinstance(ds, dict):
            continue
        if ds.setdefault("scale", scale) != scale:
            raise UserError(f"datasets.{phase}.scale ({ds['scale']}) disagrees with scale ({scale}); "
                            "set only the top-level scale")
        ds["phase"] = "train" if phase == "train" else "val"
        ds.setdefault("manual_seed", opt.get("manual_seed", 0))
        from_network = getattr(DATASETS.get(ds["type"]), "FROM_NETWORK", {}) if "type" in ds else {}
        if from_network and isinstance(net, dict) and "type" in net:
            defaults = inspect.signature(ARCHS.get(net["type"])).parameters
            for key, net_key in from_network.items():
                value = net.get(net_key, defaults[net_key].default)
                if ds.setdefault(key, value) != value:
                    raise UserError(f"datasets.{phase}.{key} ({ds[key]}) disagrees with network_g.{net_key} ({value}); "
                                    f"set only network_g.{net_key}")


def load_options(path: str | Path, overrides: list[str] = (), training: bool = True) -> dict:
    """Read a config (with includes), apply `--set` overrides, propagate scale, validate, fill defaults.
    With `training` false only what inference needs is required (model_type, scale, the network sections)."""
    from deflow.registry import load_plugins

    load_plugins()
    opt = load_yaml_with_includes(Path(path))
    for assignment in overrides:
        apply_override(opt, assignment)
    return resolve_options(opt, training, source=path)


def resolve_options(opt: dict, training: bool = True, source="options") -> dict:
    """Propagate, validate and fill defaults of an option tree (from a file or a checkpoint); for training, also build
    the optimizers and schedules once (deflow.optim.check_buildable), so whatever torch refuses is caught here."""
    from deflow.registry import MODELS

    if "model_type" not in opt:
        raise UserError(f"{source}: model_type: required key missing (e.g. SRModel or DeFlowModel)")
    opt = copy.deepcopy(opt)
    if not training:
        opt.setdefault("name", opt["model_type"])
    _propagate(opt)
    opt = validate(opt, schema_for(opt["model_type"], training))
    if training:
        check_buildable(opt["train"], MODELS.get(opt["model_type"]).TRAINED)
    if opt["path"]["experiments_root"] is None:
        opt["path"]["experiments_root"] = str(Path("experiments") / opt["name"])
    return opt


def describe_schema(model_type: str) -> str:
    """Every key of a model type with its type, default and meaning (for `--schema`)."""
    from deflow.registry import MODELS, load_plugins

    failed = load_plugins()
    model = MODELS.get(model_type)
    lines = [f"# options of model_type: {model_type}"]
    lines += [f"# plugin not loaded, its entries are unavailable: {name}: {why}" for name, why in failed.items()]
    example = getattr(model, "EXAMPLE_SECTIONS", {})
    _describe(schema_for(model_type), "", example, lines)
    return "\n".join(lines)


def _describe(schema: dict, path: str, example: dict, lines: list) -> None:
    for key, spec in schema.items():
        here = f"{path}{key}"
        if isinstance(spec, Key):
            lines.append(f"{here:<38} {type_name(spec.type):<28} {spec.default!r:<14} {spec.doc}")
        elif isinstance(spec, dict):
            _describe(spec, here + ".", example, lines)
        else:
            sample = example.get(here)
            if here == "datasets" and sample:
                _describe(spec(sample, here), here + ".", {f"datasets.{k}": v for k, v in sample.items()}, lines)
                continue
            if sample is None:
                lines.append(f"{here}.type{'':<{max(1, 33 - len(here))}} str  (section; keys depend on its type)")
                continue
            lines.append(f"# {here}: keys for type {sample.get('type')} (other types have their own)")
            try:
                _describe(spec(sample, here), here + ".", {}, lines)
            except UserError as exc:
                lines.append(f"{here}: {exc}")
