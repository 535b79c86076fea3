"""Checkpoints and weights files: one file per save, written atomically, read without running code.

Every file deflow reads (checkpoints, pretrained weights, backbones) goes through `load`: a `.pth` file through
torch's weights-only unpickler, which refuses a file whose pickle would build other objects than tensors and plain
values (such a file could run any code of its author's choosing; PyTorch's serialization notes), and a
`.safetensors` file (tensors and string metadata only, nothing to execute). `scripts/export_weights.py` turns a
checkpoint, or on purpose a trusted legacy pickle, into a `.safetensors` weights file.

Layout of an experiment root:  checkpoints/iter_00001000.pth (the last K kept), checkpoints/best_<metric>.pth.
A training checkpoint holds `format_version` (FORMAT_VERSION; checked when a run resumes), `iteration`, `epoch`,
`sampler_position` (items drawn so far over all processes), `model`, `optimizers`, `schedulers`, `scaler`, `rng`
(every process's generator states, in rank order), `best`, `nonfinite` and the resolved `options`.
"""
import io
import json
import os
import pickle
import random
import re
import warnings
from pathlib import Path

import numpy as np
import torch

from deflow.errors import UserError

FORMAT_VERSION = 2  # 2: named flow steps and per-network option keys; format 1 weights still load
WEIGHTS_FORMAT = "deflow-weights/1"  # the metadata "format" of an exported .safetensors file
_PERIODIC = re.compile(r"^iter_(\d+)\.pth$")
_TEMPORARY = re.compile(r"^\..+\.tmp\d+$")


def write_atomic(path: Path, write) -> None:
    """`write(file)` into a temporary file in the same folder, fsync, then rename: a crash or a full disk leaves the
    old file. A write the system refuses (no space, read-only, permissions) is a UserError naming the file."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise UserError(f"{path}: could not be written ({exc.strerror or exc}); a file already there is "
                        "intact") from None
    finally:
        tmp.unlink(missing_ok=True)


def save_atomic(state: dict, path: Path) -> None:
    def serialised(f):  # in memory first: torch's zip writer reports a full disk as a RuntimeError of its own
        buffer = io.BytesIO()
        torch.save(state, buffer)
        f.write(buffer.getbuffer())
    write_atomic(path, serialised)


def save_weights(weights: dict[str, dict], options: dict | None, path: Path) -> None:
    """{network: state_dict} as one .safetensors file (keys `<network>.<param>`), the options in its metadata."""
    from safetensors.torch import save

    tensors = {f"{name}.{key}": value.detach().cpu().contiguous().clone()
               for name, state in weights.items() for key, value in state.items()}
    metadata = {"format": WEIGHTS_FORMAT, "options": json.dumps(options) if options is not None else "null"}
    write_atomic(path, lambda f: f.write(save(tensors, metadata)))


def _load_safetensors(path: Path, map_location) -> dict:
    """An exported weights file as {"inference_weights": {network: state_dict}, "options"}; any other safetensors file
    as its bare state_dict (e.g. a BasicSR network saved as safetensors)."""
    from safetensors import safe_open

    device = str(map_location) if isinstance(map_location, (str, torch.device)) else "cpu"
    try:
        with safe_open(path, framework="pt", device=device) as f:
            metadata = f.metadata() or {}
            tensors = {key: f.get_tensor(key) for key in f.keys()}
    except Exception as exc:  # safetensors reports a damaged header or body as several exception types
        raise UserError(f"{path}: not a readable safetensors file ({type(exc).__name__}: {_first_line(exc)})") from None
    if metadata.get("format") != WEIGHTS_FORMAT:
        return tensors
    weights: dict[str, dict] = {}
    for key, value in tensors.items():
        name, _, param = key.partition(".")
        weights.setdefault(name, {})[param] = value
    try:
        options = json.loads(metadata.get("options", "null"))
    except json.JSONDecodeError:
        raise UserError(f"{path}: its metadata options are not JSON; export it again with "
                        "scripts/export_weights.py") from None
    return {"inference_weights": weights, "options": options}


def _first_line(exc: Exception) -> str:
    return next((line.strip() for line in str(exc).splitlines() if line.strip()), "")[:300]


def _refusal(path: Path, exc: Exception) -> str:
    found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(exc))
    what = f" ({found.group(1)})" if found else ""
    return (f"{path}: refused, it holds pickled objects other than tensors{what}, which could run code when loaded; "
            f"if you trust its origin, convert it once: python scripts/export_weights.py {path} --trust-pickle "
            f"--out {path.with_suffix('.safetensors')}")


def load(path: str | Path, map_location="cpu") -> dict:
    """A deflow checkpoint, a weights file (BasicSR's {params, params_ema}, a bare state_dict) or an exported
    .safetensors file; nothing in the file is executed (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: checkpoint not found")
    if path.suffix == ".safetensors":
        return _load_safetensors(path, map_location)
    try:
        with warnings.catch_warnings():  # torch warns about the pickle protocol of files it then refuses
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        if "Weights only load failed" in str(exc):
            raise UserError(_refusal(path, exc)) from None
        raise UserError(f"{path}: not a readable checkpoint (UnpicklingError: {_first_line(exc)})") from None
    except Exception as exc:  # truncated or foreign files surface as many exception types
        raise UserError(f"{path}: not a readable checkpoint ({type(exc).__name__}: {_first_line(exc)})") from None
    if not isinstance(state, dict):
        raise UserError(f"{path}: not a deflow checkpoint (no state dict)")
    return state


def periodic_checkpoints(folder: Path) -> list[tuple[int, Path]]:
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _PERIODIC.match(p.name))]
    return sorted(found)


def latest(folder: Path) -> Path | None:
    found = periodic_checkpoints(folder)
    return found[-1][1] if found else None


def latest_loadable(folder: Path) -> tuple[Path | None, dict | None, list[str]]:
    """The newest periodic checkpoint that loads, its state, and one line per newer one that did not
    (a save cut short by a crash or a full disk): (None, None, skipped) when none loads."""
    skipped = []
    for _, path in reversed(periodic_checkpoints(folder)):
        try:
            return path, load(path), skipped
        except UserError as exc:
            skipped.append(str(exc))
    return None, None, skipped


def remove_temporaries(folder: Path) -> list[Path]:
    """Delete the temporary files of saves that were killed midway; returns them."""
    found = [p for p in folder.iterdir() if _TEMPORARY.match(p.name)] if folder.is_dir() else []
    for path in found:
        path.unlink(missing_ok=True)
    return found


def prune(folder: Path, keep_last: int) -> None:
    for _, path in periodic_checkpoints(folder)[:-keep_last]:
        path.unlink(missing_ok=True)


def seed_all(seed: int) -> None:
    """Seed Python's, numpy's and torch's global generators (what rng_state saves), as BasicSR's set_random_seed."""
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)


def rng_state() -> dict:
    """Python, numpy, torch and CUDA generator states, as tensors and plain values (weights_only-safe)."""
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": [version, torch.tensor(internal, dtype=torch.int64), gauss],
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(int(v) for v in internal.tolist()), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
