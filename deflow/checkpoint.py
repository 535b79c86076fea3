"""Checkpoints: one file per save, written atomically, loadable with torch.load(weights_only=True).

Layout of an experiment root:  checkpoints/iter_00001000.pth (the last K kept), checkpoints/best_<metric>.pth.
A training checkpoint holds `format_version` (FORMAT_VERSION; checked when a run resumes), `iteration`, `epoch`,
`sampler_position` (items drawn so far over all processes), `model`, `optimizers`, `schedulers`, `scaler`, `rng`,
`best`, `nonfinite` and the resolved `options`.
"""
import os
import random
import re
from pathlib import Path

import numpy as np
import torch

from deflow.errors import UserError

FORMAT_VERSION = 2  # 2: named flow steps and per-network option keys; format 1 weights still load
_PERIODIC = re.compile(r"^iter_(\d+)\.pth$")
_TEMPORARY = re.compile(r"^\..+\.tmp\d+$")


def save_atomic(state: dict, path: Path) -> None:
    """Write to a temporary file in the same folder, fsync, then rename: a crash leaves the old file intact."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load(path: str | Path, map_location="cpu") -> dict:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: checkpoint not found")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # truncated or foreign files surface as many exception types
        raise UserError(f"{path}: not a readable checkpoint ({type(exc).__name__}: {exc})") from None
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
