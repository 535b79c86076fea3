"""Build a trained model for inference from a checkpoint (and optionally a config)."""
from pathlib import Path

import torch

from deflow import checkpoint
from deflow.config import load_options, validate, schema_for
from deflow.errors import UserError
from deflow.registry import MODELS, load_plugins


def pick_device(choice: str = "auto") -> torch.device:
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if choice.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {choice}: CUDA is not available on this machine; use --device cpu")
    return torch.device(choice)


def load_for_inference(model_path: str | Path, opt_path: str | Path | None = None, device: str = "auto",
                       expected_type: str | None = None):
    """The model of checkpoint `model_path`, with its EMA weights when it kept them, in eval mode.

    The options come from `opt_path` when given, else from the checkpoint itself (every deflow checkpoint stores
    its resolved options). BasicSR-style weight files ({params, params_ema}) need `opt_path`."""
    load_plugins()
    state = checkpoint.load(model_path)
    if opt_path is not None:
        opt = load_options(opt_path)
    elif "options" in state:
        opt = state["options"]
        opt = validate(opt, schema_for(opt["model_type"]))
    else:
        raise UserError(f"{model_path}: holds no options; pass the training config with -opt")
    if expected_type and opt["model_type"] != expected_type:
        raise UserError(f"{model_path}: is a {opt['model_type']} checkpoint, this command needs a {expected_type}")
    model = MODELS.get(opt["model_type"])(opt, pick_device(device))
    if "model" in state:
        model.load_state(state["model"])
    else:
        model.load_pretrained("g", str(model_path), "params_ema" if "params_ema" in state else "params")
    model.train(False)
    return model
