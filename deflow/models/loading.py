"""Build a model for inference from a checkpoint and/or a config; only what inference needs is required."""
from pathlib import Path

from deflow import checkpoint
from deflow.config import load_options, resolve_options
from deflow.devices import pick_device
from deflow.errors import UserError
from deflow.models.base import has_weights, inference_weights
from deflow.registry import MODELS, load_plugins


def load_for_inference(model_path: str | Path | None, opt_path: str | Path | None = None, device: str = "auto",
                       expected_type: str | None = None):
    """The model in eval mode, with its EMA weights when it kept them.

    The options come from `opt_path` when given (model_type, scale and the network sections are enough: BasicSR's
    test-option files work), else from the file (every deflow checkpoint and exported weights file stores them). The
    weights come from `model_path` (a deflow checkpoint, an exported .safetensors file, or a BasicSR
    {params, params_ema} file with `opt_path`), else from the
    config's path.pretrain_network_<name>. A network without parameters (a classical pipeline) needs none; one with
    parameters and no weights is an error, never a randomly initialised network."""
    load_plugins()
    state = checkpoint.load(model_path) if model_path is not None else None
    if opt_path is not None:
        opt = load_options(opt_path, training=False)
    elif state is not None and state.get("options") is not None:
        opt = resolve_options(state["options"], training=False)
    else:
        raise UserError(f"{model_path}: holds no options; pass the model's config with -opt")
    if expected_type and opt["model_type"] != expected_type:
        raise UserError(f"{model_path or opt_path}: is a {opt['model_type']} model, this command needs a {expected_type}")
    model = MODELS.get(opt["model_type"])(opt, pick_device(device))
    if state is not None and "model" in state:
        model.load_state(state["model"])
    elif state is not None:
        for name in model.inference_networks() if "inference_weights" in state else ("g",):
            model.load_weights(name, inference_weights(state, name, model_path), model_path)
    else:
        loaded = model.load_configured_weights()
        for name in model.inference_networks():
            if name not in loaded and has_weights(model.nets[name]):
                raise UserError(f"{opt_path}: network_{name} of {opt['model_type']} has weights to load and none were "
                                f"given; pass --model_path CKPT or set path.pretrain_network_{name}")
    model.train(False)
    return model
