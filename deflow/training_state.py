"""The state of a training run and how it starts: built from the options, restored from a checkpoint (exactly), or
started from pretrained weights; the checkpoint it becomes (`snapshot`)."""
from dataclasses import dataclass, field
from pathlib import Path

import torch

from deflow import checkpoint
from deflow.errors import UserError
from deflow.experiment import archive_previous_run, write_options
from deflow.optim import build_optimizer, build_scheduler
from deflow.registry import MODELS


@dataclass
class Training:
    """Everything a checkpoint restores besides the options."""
    model: object
    optimizers: dict
    schedulers: dict
    scaler: torch.amp.GradScaler
    iteration: int = 0
    items_drawn: int = 0  # training items drawn so far, over all processes: where the data resumes
    best: dict = field(default_factory=dict)
    nonfinite: int = 0


def find_resume(resume: str | None, ckpt_dir: Path, notices: list[str]) -> tuple[Path | None, dict | None]:
    """(path, state) of the checkpoint to resume, or (None, None) for a new run. `auto` takes the newest periodic
    checkpoint that loads, and says which newer ones it skipped."""
    if resume is None:
        return None, None
    if resume != "auto":
        return Path(resume), checkpoint.load(resume)
    path, state, skipped = checkpoint.latest_loadable(ckpt_dir)
    notices += [f"--resume auto: skipped {reason}" for reason in skipped]
    if path is None and skipped:
        raise UserError(f"--resume auto: no checkpoint in {ckpt_dir} loads ({skipped[-1]}); start a new run "
                        "without --resume")
    if path is None:
        notices.append(f"--resume auto: no checkpoint in {ckpt_dir}, starting a new run")
    return path, state


def saved_rng_states(state: dict) -> list[dict]:
    """The generator states of every process that wrote the checkpoint (older checkpoints: rank 0's alone)."""
    return state["rng"] if isinstance(state["rng"], list) else [state["rng"]]


def check_resumable(state: dict, opt: dict, path: Path, world: int) -> None:
    """A checkpoint of another model, scale or network must not be loaded silently into this run (SRFlow #14/#18),
    nor one of another number of processes (each drew other samples and random numbers: no exact continuation)."""
    if state.get("format_version") != checkpoint.FORMAT_VERSION or "options" not in state:
        raise UserError(f"{path}: checkpoint format {state.get('format_version')!r}, this deflow resumes format "
                        f"{checkpoint.FORMAT_VERSION}; start a new run (path.pretrain_network_<name> takes its weights)")
    saved = state["options"]
    networks = sorted(k for k in {**saved, **opt} if k.startswith("network_"))
    for key in ("model_type", "scale", *networks):
        if saved.get(key) != opt.get(key):
            raise UserError(f"{path}: was trained with {key} = {saved.get(key)!r} but the config says {opt.get(key)!r}; "
                            "resume with the config of that run, or start a new run")
    written_by = len(saved_rng_states(state))
    if written_by != world:
        launch = f"torchrun --nproc_per_node={written_by}" if written_by > 1 else "python (one process)"
        raise UserError(f"{path}: was written by {written_by} process(es), this run has {world}; resume exactly with "
                        f"{launch}, or start a new run from its weights with path.pretrain_network_<name>")


def build_training(opt: dict, device: torch.device, world: int, amp: torch.dtype | None) -> Training:
    model = MODELS.get(opt["model_type"])(opt, device)
    model.setup_training()
    if opt["train"]["channels_last"]:
        model.use_channels_last()
    if not any(model.parameters(name) for name in model.TRAINED):
        raise UserError(f"{opt['model_type']}: its trained networks have no parameters to train")
    seen: dict[int, str] = {}
    for name in model.TRAINED:
        for p in model.parameters(name):
            if seen.setdefault(id(p), name) != name:
                raise ValueError(f"networks {seen[id(p)]!r} and {name!r} of {opt['model_type']} share parameters")
    if world > 1:
        for name in model.TRAINED:
            model.nets[name] = torch.nn.parallel.DistributedDataParallel(
                model.nets[name], device_ids=[device.index] if device.type == "cuda" else None)
    optimizers = {name: build_optimizer(opt["train"][f"optim_{name}"], model.parameters(name)) for name in model.TRAINED}
    schedulers = {name: build_scheduler(opt["train"], optimizers[name], name) for name in model.TRAINED}
    return Training(model, optimizers, schedulers, torch.amp.GradScaler(device.type, enabled=amp == torch.float16))


def restore(t: Training, state: dict, rank: int) -> None:
    t.model.load_state(state["model"])
    for name, optimizer in t.optimizers.items():
        optimizer.load_state_dict(state["optimizers"][name])
        if t.schedulers[name] is not None:
            t.schedulers[name].load_state_dict(state["schedulers"][name])
    t.scaler.load_state_dict(state["scaler"])
    t.iteration, t.items_drawn = state["iteration"], state["sampler_position"]
    t.best, t.nonfinite = state["best"], state["nonfinite"]
    checkpoint.set_rng_state(saved_rng_states(state)[rank])


def pretrain(model, opt: dict) -> list[str]:
    """Load path.pretrain_network_<name> into each network that has one (a fresh optimizer and schedule)."""
    notices = [f"fine-tuning: network {name} from {opt['path'][f'pretrain_network_{name}']}, fresh optimizer and "
               "schedule" for name in model.load_configured_weights()]
    return notices or ["new run from scratch"]


def prepare_folder(root: Path, fresh: bool, opt: dict, notices: list[str]) -> None:
    for path in checkpoint.remove_temporaries(root / "checkpoints"):
        notices.append(f"removed {path.name}, left by a save that was cut short")
    if fresh:
        archived = archive_previous_run(root)
        if archived:
            notices.append(f"moved the previous run in {root} to {archived}")
    write_options(root, opt)


def snapshot(t: Training, opt: dict, epoch_len: int, rngs: list[dict]) -> dict:
    return {
        "format_version": checkpoint.FORMAT_VERSION, "iteration": t.iteration, "epoch": t.items_drawn // epoch_len,
        "sampler_position": t.items_drawn, "model": t.model.state(),
        "optimizers": {n: o.state_dict() for n, o in t.optimizers.items()},
        "schedulers": {n: s.state_dict() for n, s in t.schedulers.items() if s is not None},
        "scaler": t.scaler.state_dict(), "rng": rngs, "best": t.best, "nonfinite": t.nonfinite,
        "options": opt,
    }
