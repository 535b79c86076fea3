"""The one training loop, for every model type (the model contract is deflow/models/base.py). `train` reads top
to bottom:

    1. processes, device, experiment folder   (DDP under torchrun; CUDA when present, AMP there; a lock on the folder)
    2. the start state                         (--resume: the checkpoint, or the newest one that loads; see
                                               deflow/training_state.py)
    3. data, model, optimizers                 (built before anything of a previous run is touched)
    4. restore or pretrain, then the folder    (a fresh run moves the previous one aside only now)
    5. the loop                                (step, guard, log, validate and keep the best, save)
"""
import logging
import math
import os
from contextlib import nullcontext
from pathlib import Path

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from deflow import checkpoint
from deflow.data.sampler import ResumableSampler
from deflow.errors import UserError
from deflow.experiment import ExperimentLock, setup_logging
from deflow.registry import DATASETS, MODELS
from deflow.training_state import (Training, build_training, check_resumable, find_resume, prepare_folder, pretrain,
                                   restore, snapshot)

log = logging.getLogger("deflow")
AMP_TYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, None: None}


# ---------------------------------------------------------------- the loop

def train(opt: dict, resume: str | None = None) -> Path:
    """Train `opt["model_type"]` as configured; returns the experiment folder."""
    # 1. processes, device, experiment folder
    if not MODELS.get(opt["model_type"]).TRAINED:
        raise UserError(f"{opt['model_type']} has nothing to train; evaluate it with scripts/test_sr.py -opt CONFIG")
    owns_group = not (dist.is_available() and dist.is_initialized())
    rank, world, device = setup_processes(opt)
    amp = amp_dtype(opt["train"]["amp"], device)
    root = Path(opt["path"]["experiments_root"])
    setup_logging(None, rank)
    lock = ExperimentLock(root)
    if rank == 0:
        lock.acquire()
    try:
        # 2. the start state
        notices = list(lock.notices)
        resume_path, state = find_resume(resume, root / "checkpoints", notices)
        if state is not None:
            check_resumable(state, opt, resume_path, world)

        # 3. data, model, optimizers
        checkpoint.seed_all(opt["manual_seed"] + rank)
        if "train" not in opt["datasets"]:
            raise UserError("datasets.train: required for training (e.g. {type: PairedImageDataset, ...})")
        ds_train, train_opt = opt["datasets"]["train"], opt["train"]
        train_set = DATASETS.get(ds_train["type"])(ds_train)
        val_sets = {phase: DATASETS.get(ds["type"])(ds) for phase, ds in opt["datasets"].items()
                    if phase.startswith("val")}
        t = build_training(opt, device, world, amp)
        batch_size = ds_train["batch_size_per_gpu"]
        sampler = ResumableSampler(len(train_set), opt["manual_seed"], ds_train["dataset_enlarge_ratio"], rank, world,
                                   start_position=state["sampler_position"] if state else 0)
        workers = ds_train["num_worker_per_gpu"]
        # the loader's iterator draws its base seed from the global RNG: made before the RNG state is restored
        batches = iter(DataLoader(train_set, batch_size=batch_size, sampler=sampler, num_workers=workers,
                                  pin_memory=device.type == "cuda", persistent_workers=workers > 0))

        # 4. restore or pretrain, then the folder
        if state is not None:
            restore(t, state, rank)
            notices.append(f"resumed from {resume_path} at iteration {t.iteration} (epoch {state['epoch']}; "
                           "optimizer, scheduler, EMA, RNG and data position restored)")
        else:
            notices += pretrain(t.model, opt)
        if rank == 0:
            prepare_folder(root, fresh=state is None, opt=opt, notices=notices)
        barrier(world)
        setup_logging(root, rank)
        log.info("experiment %s: %s on %s, %d process(es), amp %s", opt["name"], opt["model_type"], device, world,
                 opt["train"]["amp"] if amp else "off")
        for notice in notices:
            log.info("%s", notice)

        # 5. the loop
        epoch_len = len(train_set) * ds_train["dataset_enlarge_ratio"]
        total_iter, log_cfg, val_freq = train_opt["total_iter"], opt["logger"], opt["val"]["val_freq"]
        writer = SummaryWriter(str(root / "tb")) if rank == 0 and log_cfg["use_tb_logger"] else None
        running = RunningLosses()
        bar = tqdm(total=total_iter, initial=t.iteration, disable=rank != 0, dynamic_ncols=True, mininterval=1.0,
                   unit="it", desc=opt["name"])
        while t.iteration < total_iter:
            batch = t.model.to_device(next(batches))
            losses, bad = train_step(t, batch, amp, train_opt["grad_clip"], world, device)
            t.iteration += 1
            t.items_drawn += batch_size * world
            bar.update(1)
            lrs = {name: o.param_groups[0]["lr"] for name, o in t.optimizers.items()}  # this iteration's, before the step
            for scheduler in t.schedulers.values():
                if scheduler is not None:
                    scheduler.step()
            guard(t, bad, batch, root / "checkpoints", train_opt["max_nonfinite"])
            running.add(losses)
            if t.iteration % log_cfg["print_freq"] == 0 or t.iteration == total_iter:
                log_losses(running.take(world, device), lrs, t, bar, writer)
            if val_freq and (t.iteration % val_freq == 0 or t.iteration == total_iter):
                validate_and_keep_best(t, val_sets, opt, epoch_len, rank, world, device, writer)
            if t.iteration % log_cfg["save_checkpoint_freq"] == 0 or t.iteration == total_iter:
                rngs = rng_states(world)
                if rank == 0:
                    save(snapshot(t, opt, epoch_len, rngs), root / "checkpoints" / f"iter_{t.iteration:08d}.pth")
                    checkpoint.prune(root / "checkpoints", log_cfg["keep_last"])
                barrier(world)
        bar.close()
        if writer:
            writer.close()
        log.info("done: %d iterations; checkpoints in %s%s", t.iteration, root / "checkpoints",
                 "".join(f"; best {k} {v['value']:.4f} @ {v['iteration']}" for k, v in t.best.items()))
        return root
    finally:
        if rank == 0:
            lock.release()
        if world > 1 and owns_group:  # a process group left to the interpreter's exit can abort it (gloo)
            dist.destroy_process_group()


# ---------------------------------------------------------------- 1. processes and device

def setup_processes(opt: dict) -> tuple[int, int, torch.device]:
    """(rank, world_size, device). torchrun sets WORLD_SIZE; then each process joins the group."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    num_gpu = opt["num_gpu"]
    if isinstance(num_gpu, str) and num_gpu != "auto":
        raise UserError(f"num_gpu: expected an integer or 'auto', got {num_gpu!r}")
    if isinstance(num_gpu, int) and num_gpu > 0 and not torch.cuda.is_available():
        raise UserError(f"num_gpu: {num_gpu} asks for CUDA, which is not available on this machine; set num_gpu: 0 "
                        "(the CPU) or auto")
    use_cuda = torch.cuda.is_available() and num_gpu != 0
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    if world > 1 and not dist.is_initialized():
        backend = opt["dist_params"]["backend"] or ("nccl" if use_cuda else "gloo")
        if use_cuda:
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend)
    device = torch.device("cuda", local_rank) if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.backends.cudnn.benchmark = True
    return rank, world, device


def amp_dtype(name: str | None, device: torch.device) -> torch.dtype | None:
    if name not in AMP_TYPES:
        raise UserError(f"train.amp: expected bf16, fp16 or null, got {name!r}")
    return AMP_TYPES[name] if device.type == "cuda" else None


def all_reduce_(tensor: torch.Tensor, world: int) -> torch.Tensor:
    if world > 1:
        dist.all_reduce(tensor)
    return tensor


def barrier(world: int) -> None:
    if world > 1:
        dist.barrier()


def rng_states(world: int) -> list[dict]:
    """Every process's generator states, in rank order: each process restores its own at resume."""
    states = [checkpoint.rng_state()]
    if world > 1:
        states = [None] * world
        dist.all_gather_object(states, checkpoint.rng_state())
    return states


# ---------------------------------------------------------------- 5. one iteration and the guard

def train_step(t: Training, batch: dict, amp: torch.dtype | None, grad_clip: float | None, world: int,
               device: torch.device) -> tuple[dict[str, torch.Tensor], str | None]:
    """The shared forward pass, then every stage's losses and gradients; then every staged optimizer steps, or, if
    anything was non-finite, none does. Returns (loss and logged values as 0-d tensors on the device, None) or ({},
    what was not finite). One device-to-host synchronisation: the finiteness of every loss and gradient norm at once
    (GradScaler adds its own under fp16)."""
    model = t.model
    model.train()
    stages = model.stages(t.iteration + 1)
    autocast = torch.autocast("cuda", dtype=amp) if amp else nullcontext()
    for name in stages:
        t.optimizers[name].zero_grad(set_to_none=True)
    with autocast:
        shared = model.forward_train(batch)
    losses = {}
    for i, name in enumerate(stages):
        with autocast:
            stage_losses = model.losses(batch, shared, name)
        t.scaler.scale(sum(stage_losses.values())).backward(inputs=model.parameters(name),
                                                            retain_graph=i < len(stages) - 1)
        losses.update(stage_losses)
    checked = {f"loss {n}": v for n, v in losses.items()}
    for name in stages:
        t.scaler.unscale_(t.optimizers[name])
        checked[f"gradient of network {name}"] = torch.nn.utils.clip_grad_norm_(model.parameters(name),
                                                                               grad_clip or math.inf)
    bad = first_nonfinite(checked, world, device)
    if bad is not None:
        return discard(t, stages, bad)
    for name in stages:
        t.scaler.step(t.optimizers[name])
    t.scaler.update()
    model.after_step(t.iteration + 1)
    logged = {**losses, **model.log_values()}
    return {n: torch.as_tensor(v, device=device).detach().float() for n, v in logged.items()}, None


def discard(t: Training, stages, bad: str) -> tuple[dict, str | None]:
    """Skip the iteration for every network. Under fp16 the scaler closes the iteration (and lowers its scale); an
    overflowing gradient with finite losses is its business alone and does not count as non-finite."""
    for name in stages:
        t.optimizers[name].zero_grad(set_to_none=True)
    if t.scaler.is_enabled():
        t.scaler.update()
        if bad.startswith("gradient"):
            log.info("iteration %d: fp16 gradient overflow, step skipped, loss scale now %g", t.iteration + 1,
                     t.scaler.get_scale())
            return {}, None
    return {}, bad


def first_nonfinite(values: dict, world: int, device: torch.device) -> str | None:
    """Name of the first non-finite value on any process (all processes agree, so all skip or all step)."""
    names = list(values)
    flags = torch.stack([(~torch.isfinite(torch.as_tensor(values[n], device=device))).any().float() for n in names])
    flags = all_reduce_(flags, world)
    bad = [n for n, f in zip(names, flags.tolist()) if f > 0]
    return bad[0] if bad else None


def guard(t: Training, bad: str | None, batch: dict, ckpt_dir: Path, limit: int) -> None:
    """Count consecutive skipped iterations; stop after `limit`, naming the last good checkpoint."""
    if bad is None:
        t.nonfinite = 0
        return
    t.nonfinite += 1
    detail = t.model.explain_nonfinite(batch)
    log.warning("iteration %d: non-finite %s, step skipped (%d in a row)%s", t.iteration, bad, t.nonfinite,
                f"; {detail}" if detail else "")
    if t.nonfinite >= limit:
        raise UserError(f"training stopped at iteration {t.iteration}: {t.nonfinite} consecutive non-finite values "
                        f"(last: {bad}); last good checkpoint: {checkpoint.latest(ckpt_dir) or 'none yet'}; "
                        "lower the learning rate or set train.grad_clip")


# ---------------------------------------------------------------- 5. logging, validation, checkpoints

def save(state: dict, path: Path) -> None:
    """A checkpoint the disk refuses stops the run in one line naming the last good one, which is intact."""
    try:
        checkpoint.save_atomic(state, path)
    except UserError as exc:
        raise UserError(f"{exc}; last good checkpoint: {checkpoint.latest(path.parent) or 'none yet'}; make room "
                        "(or fix the folder's permissions) and continue with --resume auto") from None


class RunningLosses:
    """Sums of the loss values since the last log line, over the iterations that stepped."""

    def __init__(self):
        self.sums: dict[str, torch.Tensor] = {}
        self.steps = 0

    def add(self, losses: dict[str, torch.Tensor]) -> None:
        """Summed on the device: the host reads them once per log line (take)."""
        for name, value in losses.items():
            self.sums[name] = self.sums.get(name, 0.0) + value
        self.steps += bool(losses)

    def take(self, world: int, device: torch.device) -> dict[str, float]:
        names = sorted(self.sums)
        if not names:
            self.steps = 0
            return {}
        sums = all_reduce_(torch.stack([torch.as_tensor(self.sums[n], device=device).float() for n in names]), world)
        means = dict(zip(names, (sums / (world * max(self.steps, 1))).tolist()))
        self.sums, self.steps = {}, 0
        return means


def log_losses(means: dict[str, float], lrs: dict[str, float], t: Training, bar, writer) -> None:
    """One log line: the learning rate of each trained network ("lr" alone for one network), then the losses."""
    rates = "  ".join(f"lr {v:.3e}" if len(lrs) == 1 else f"lr_{n} {v:.3e}" for n, v in lrs.items())
    log.info("iter %d  %s  %s", t.iteration, rates, "  ".join(f"{n} {v:.4g}" for n, v in means.items()))
    bar.set_postfix({n: f"{v:.4g}" for n, v in means.items()})
    if writer:
        for n, v in means.items():
            writer.add_scalar(f"losses/{n}", v, t.iteration)
        for n, v in lrs.items():
            writer.add_scalar("lr" if len(lrs) == 1 else f"lr/{n}", v, t.iteration)


def validate_and_keep_best(t: Training, val_sets: dict, opt: dict, epoch_len: int, rank: int, world: int,
                           device: torch.device, writer) -> None:
    for phase, val_set in val_sets.items():
        means = validate(t.model, val_set, rank, world, device)
        log.info("validation %s at iter %d: %s", phase, t.iteration, "  ".join(f"{k} {v:.4f}" for k, v in means.items()))
        for metric, value in means.items():
            if writer:
                writer.add_scalar(f"metrics/{phase}/{metric}", value, t.iteration)
            key = metric if phase == "val" else f"{phase}_{metric}"
            lower = metric in t.model.LOWER_IS_BETTER
            if key not in t.best or (value < t.best[key]["value"] if lower else value > t.best[key]["value"]):
                t.best[key] = {"value": value, "iteration": t.iteration}  # on every process: the means agree
                rngs = rng_states(world)
                if rank == 0:
                    save(snapshot(t, opt, epoch_len, rngs),
                         Path(opt["path"]["experiments_root"]) / "checkpoints" / f"best_{key}.pth")
        if writer:
            write_images(writer, t.model, val_set, opt["logger"]["num_val_images"], t.iteration)


@torch.no_grad()
def validate(model, val_set, rank: int, world: int, device: torch.device) -> dict[str, float]:
    """Every process scores its share of the images; sums are all-reduced, so no process waits alone."""
    model.train(False)
    names = sorted(model.opt["val"]["metrics"])
    sums = torch.zeros(2, len(names), dtype=torch.float64)  # row 0: sum of values, row 1: number of values
    for index in range(rank, len(val_set), world):
        batch = model.to_device(as_batch(val_set[index]))
        for metric, values in model.validate(batch).items():
            sums[:, names.index(metric)] += torch.tensor([sum(values), len(values)], dtype=torch.float64)
    sums = all_reduce_(sums.to(device), world).cpu()
    return {n: (sums[0, i] / sums[1, i]).item() for i, n in enumerate(names) if sums[1, i] > 0}


def as_batch(item: dict) -> dict:
    """One dataset item as a batch of one."""
    return {k: v.unsqueeze(0) if torch.is_tensor(v) else [v] for k, v in item.items()}


def write_images(writer: SummaryWriter, model, val_set, how_many: int, iteration: int) -> None:
    for index in range(min(how_many, len(val_set))):
        batch = model.to_device(as_batch(val_set[index]))
        for name, image in model.visuals(batch).items():
            writer.add_image(f"images/{index}/{name}", image[0].clamp(0, 1).cpu(), iteration)
