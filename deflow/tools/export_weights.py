"""Export the weights inference uses to a .safetensors file, the format models are now shared in: tensors and text
metadata only, so loading it can run no code (unlike a pickled .pth).

    python scripts/export_weights.py CKPT --out FILE.safetensors
    python scripts/export_weights.py LEGACY.pth --trust-pickle --out FILE.safetensors   # a file you trust

CKPT is a deflow checkpoint (each network inference uses, its EMA where one was kept, and the options: FILE then
runs with `scripts/test_sr.py --model_path FILE` or `translate.py --model_path FILE`, and starts a training as
`path.pretrain_network_g: FILE`) or a BasicSR / ESRGAN weights file (its params_ema, else params, as network g:
run it with `-opt CONF`). deflow refuses to unpickle anything but tensors and plain values; `--trust-pickle` loads a
legacy file with full pickle, which runs whatever code the file holds: use it only for files from a source you trust.
"""
import argparse
from pathlib import Path

import torch

from deflow import checkpoint
from deflow.errors import UserError, user_errors_exit_2
from deflow.models.base import inference_weights
from deflow.outputs import output_file
from deflow.registry import MODELS, load_plugins


def read_trusted(path: Path) -> dict:
    """A legacy file loaded with full pickle, on the user's explicit request."""
    if not path.is_file():
        raise UserError(f"{path}: file not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # a damaged file surfaces as many exception types
        raise UserError(f"{path}: not a readable pickle file ({type(exc).__name__})") from None
    if not isinstance(state, dict):
        raise UserError(f"{path}: holds a {type(state).__name__}, not a dict of weights")
    return state


def export_weights(source: Path, out: Path, trust_pickle: bool = False) -> list[str]:
    """Write `out`; returns the names of the networks written."""
    if out.suffix != ".safetensors":
        raise UserError(f"--out {out}: the file name must end in .safetensors")
    output_file(out, "--out")
    state = read_trusted(source) if trust_pickle else checkpoint.load(source)
    options = state.get("options")
    if isinstance(options, dict) and "model_type" in options:
        load_plugins()
        names = MODELS.get(options["model_type"]).inference_networks()
    else:
        names, options = ("g",), None
    weights = {name: inference_weights(state, name, source) for name in names}
    tensors = [key for w in weights.values() for key, value in w.items() if not torch.is_tensor(value)]
    if tensors:
        raise UserError(f"{source}: {tensors[0]!r} is not a tensor; not a weights file")
    checkpoint.save_weights(weights, options, out)
    return list(names)


@user_errors_exit_2
def main(argv=None):
    parser = argparse.ArgumentParser(prog="scripts/export_weights.py", description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="a deflow checkpoint or a BasicSR/ESRGAN weights file")
    parser.add_argument("--out", required=True, type=Path, help="the .safetensors file to write")
    parser.add_argument("--trust-pickle", action="store_true",
                        help="load SOURCE with full pickle (runs any code it holds): only for files you trust")
    args = parser.parse_args(argv)
    names = export_weights(args.source, args.out, args.trust_pickle)
    print(f"wrote {args.out}: network {', '.join(names)} of {args.source}")


if __name__ == "__main__":
    main()
