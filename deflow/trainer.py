"""The one training loop, for every model type. Read it top to bottom:

    1. processes and device     (DDP under torchrun; CUDA when present, else CPU; AMP on CUDA only)
    2. experiment folder        (a fresh run archives an old folder; resolved options written there)
    3. data                     (a resumable, seeded sampler: resume continues with the exact next batch)
    4. model and optimizers     (optimizers and schedulers looked up by name in torch)
    5. start state              (--resume: everything; path.pretrain_network_g: weights only)
    6. the loop                 (step each stage, guard against non-finite values, log, validate, save)
"""
import logging
import math
import os
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import torch
import torch.distributed as dist
import yaml
from torch.utils.data import DataLoader
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from deflow import checkpoint
from deflow.config import torch_optimizers, torch_schedulers
from deflow.data.sampler import ResumableSampler
from deflow.errors import UserError
from deflow.registry import DATASETS, MODELS

log = logging.getLogger("deflow")


# ---------------------------------------------------------------- 1. processes and device

def setup_processes(opt: dict) -> tuple[int, int, torch.device]:
    """(rank, world_size, device). torchrun sets WORLD_SIZE; then each process joins the group."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    num_gpu = opt["num_gpu"]
    if isinstance(num_gpu, str) and num_gpu != "auto":
        raise UserError(f"num_gpu: expected an integer or 'auto', got {num_gpu!r}")
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


def all_reduce_(tensor: torch.Tensor, world: int) -> torch.Tensor:
    if world > 1:
        dist.all_reduce(tensor)
    return tensor


def barrier(world: int) -> None:
    if world > 1:
        dist.barrier()


# ---------------------------------------------------------------- 2. experiment folder and logs

def prepare_folder(root: Path, fresh: bool, rank: int, opt: dict) -> None:
    if rank == 0:
        if fresh and root.exists() and any(root.iterdir()):
            archived = root.with_name(f"{root.name}_archived_{time.strftime('%Y%m%d_%H%M%S')}")
            root.rename(archived)
            print(f"moved the previous run in {root} to {archived}", file=sys.stderr)
        (root / "checkpoints").mkdir(parents=True, exist_ok=True)
        (root / "options.yml").write_text(yaml.safe_dump(opt, sort_keys=False))


def setup_logging(root: Path, rank: int) -> None:
    log.handlers.clear()
    log.setLevel(logging.INFO if rank == 0 else logging.WARNING)
    log.propagate = False
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S")
    handlers = [logging.StreamHandler(sys.stdout)]
    if rank == 0:
        handlers.append(logging.FileHandler(root / "train.log"))
    for handler in handlers:
        handler.setFormatter(fmt)
        log.addHandler(handler)


# ---------------------------------------------------------------- 3./4. data, optimizers, schedulers

def build_dataset(ds_opt: dict):
    return DATASETS.get(ds_opt["type"])(ds_opt)


def build_optimizer(section: dict, params):
    kwargs = {k: v for k, v in section.items() if k != "type" and v is not None}
    return torch_optimizers().get(section["type"])(params, **kwargs)


def build_scheduler(train_opt: dict, optimizer):
    """Linear warm-up (lr * (k + 1) / warmup_iter at iteration k < warmup_iter), then train.scheduler counted
    from the end of the warm-up; stepped once per iteration."""
    lr_sched = torch.optim.lr_scheduler
    warmup = train_opt["warmup_iter"]
    parts = []
    if warmup > 1:
        parts.append(lr_sched.LinearLR(optimizer, start_factor=1.0 / warmup, total_iters=warmup - 1))
    section = train_opt.get("scheduler") or {}
    if section:
        kwargs = {k: v for k, v in section.items() if k != "type" and v is not None}
        parts.append(torch_schedulers().get(section["type"])(optimizer, **kwargs))
    if len(parts) == 2:
        return lr_sched.SequentialLR(optimizer, parts, milestones=[warmup])
    return parts[0] if parts else None


def resolve_resume(resume: str | None, ckpt_dir: Path) -> Path | None:
    if resume is None:
        return None
    if resume == "auto":
        found = checkpoint.latest(ckpt_dir)
        if found is None:
            log.info("--resume auto: no checkpoint in %s, starting a new run", ckpt_dir)
        return found
    return Path(resume)


def check_resumable(saved: dict, opt: dict, path: Path) -> None:
    """A checkpoint of another model or scale must not be loaded silently into this run (SRFlow #14/#18)."""
    for key in ("model_type", "scale", "network_g"):
        if saved.get(key) != opt.get(key):
            raise UserError(f"{path}: was trained with {key} = {saved.get(key)!r} but the config says {opt.get(key)!r}; "
                            "resume with the config of that run, or start a new run")


# ---------------------------------------------------------------- the loop

def train(opt: dict, resume: str | None = None) -> Path:
    """Train `opt["model_type"]` as configured; returns the experiment folder."""
    # 1. processes and device
    rank, world, device = setup_processes(opt)
    amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, None: None}.get(opt["train"]["amp"], "bad")
    if amp_dtype == "bad":
        raise UserError(f"train.amp: expected bf16, fp16 or null, got {opt['train']['amp']!r}")
    if device.type != "cuda":
        amp_dtype = None

    # 2. experiment folder
    root = Path(opt["path"]["experiments_root"])
    ckpt_dir = root / "checkpoints"
    resume_path = resolve_resume(resume, ckpt_dir)
    prepare_folder(root, fresh=resume_path is None, rank=rank, opt=opt)
    barrier(world)
    setup_logging(root, rank)
    log.info("experiment %s: %s on %s, %d process(es), amp %s", opt["name"], opt["model_type"], device, world,
             opt["train"]["amp"] if amp_dtype else "off")
    torch.manual_seed(opt["manual_seed"] + rank)

    # 3. data
    train_opt, ds_train = opt["train"], opt["datasets"]["train"]
    train_set = build_dataset(ds_train)
    batch_size = ds_train["batch_size_per_gpu"]
    epoch_len = len(train_set) * ds_train["dataset_enlarge_ratio"]
    val_sets = {phase: build_dataset(ds) for phase, ds in opt["datasets"].items() if phase != "train"}

    # 4. model, optimizers, schedulers, AMP scaler
    model = MODELS.get(opt["model_type"])(opt, device)
    if world > 1:
        for name in model.STAGES:
            model.nets[name] = torch.nn.parallel.DistributedDataParallel(
                model.nets[name], device_ids=[device.index] if device.type == "cuda" else None)
    optimizers, schedulers = {}, {}
    for stage in model.STAGES:
        section = train_opt.get(f"optim_{stage}")
        if not section:
            raise UserError(f"train.optim_{stage}: required for {opt['model_type']} (e.g. {{type: Adam, lr: 2.0e-4}})")
        optimizers[stage] = build_optimizer(section, model.parameters(stage))
        schedulers[stage] = build_scheduler(train_opt, optimizers[stage])
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)

    # 5. start state
    iteration, best, nonfinite = 0, {}, 0
    if resume_path is not None:
        state = checkpoint.load(resume_path)
        check_resumable(state["options"], opt, resume_path)
        model.load_state(state["model"])
        for stage in model.STAGES:
            optimizers[stage].load_state_dict(state["optimizers"][stage])
            if schedulers[stage] is not None:
                schedulers[stage].load_state_dict(state["schedulers"][stage])
        scaler.load_state_dict(state["scaler"])
        iteration, best, nonfinite = state["iteration"], state["best"], state["nonfinite"]
        checkpoint.set_rng_state(state["rng"])
        if rank > 0:
            torch.manual_seed(opt["manual_seed"] + rank + iteration)
        log.info("resumed from %s at iteration %d (optimizer, scheduler, EMA, RNG and data position restored)",
                 resume_path, iteration)
    elif opt["path"]["pretrain_network_g"]:
        model.load_pretrained("g", opt["path"]["pretrain_network_g"], opt["path"]["param_key_g"],
                              opt["path"]["strict_load_g"])
        log.info("fine-tuning: weights from %s, fresh optimizer and schedule", opt["path"]["pretrain_network_g"])
    else:
        log.info("new run from scratch")

    sampler = ResumableSampler(len(train_set), opt["manual_seed"], ds_train["dataset_enlarge_ratio"], rank, world,
                               start_position=iteration * batch_size * world)
    workers = ds_train["num_worker_per_gpu"]
    batches = iter(DataLoader(train_set, batch_size=batch_size, sampler=sampler, num_workers=workers,
                              pin_memory=device.type == "cuda", persistent_workers=workers > 0))
    writer = SummaryWriter(str(root / "tb")) if rank == 0 and opt["logger"]["use_tb_logger"] else None

    def save(path: Path) -> None:
        if rank != 0:
            return
        checkpoint.save_atomic({
            "format_version": checkpoint.FORMAT_VERSION, "iteration": iteration,
            "epoch": iteration * batch_size * world // epoch_len,
            "sampler_position": iteration * batch_size * world, "model": model.state(),
            "optimizers": {s: o.state_dict() for s, o in optimizers.items()},
            "schedulers": {s: sch.state_dict() for s, sch in schedulers.items() if sch is not None},
            "scaler": scaler.state_dict(), "rng": checkpoint.rng_state(), "best": best, "nonfinite": nonfinite,
            "options": opt,
        }, path)

    # 6. the loop
    total_iter, log_cfg = train_opt["total_iter"], opt["logger"]
    val_freq = opt["val"]["val_freq"]
    autocast = (lambda: torch.autocast("cuda", dtype=amp_dtype)) if amp_dtype else nullcontext
    bar = tqdm(total=total_iter, initial=iteration, disable=rank != 0, dynamic_ncols=True, mininterval=1.0,
               unit="it", desc=opt["name"])
    running: dict[str, float] = {}
    running_steps = 0
    while iteration < total_iter:
        batch = model.to_device(next(batches))
        model.train()
        bad = None
        for stage in model.STAGES:
            optimizer = optimizers[stage]
            optimizer.zero_grad(set_to_none=True)
            with autocast():
                losses = model.losses(batch, stage)
            bad = first_nonfinite(losses, world, device)
            if bad is not None:
                break
            scaler.scale(sum(losses.values())).backward()
            scaler.unscale_(optimizer)
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(stage), train_opt["grad_clip"] or math.inf)
            if not torch.isfinite(grad_norm) and amp_dtype != torch.float16:  # fp16's scaler skips such steps itself
                bad = f"gradient of optimizer {stage}"
                break
            scaler.step(optimizer)
            scaler.update()
            for name, value in losses.items():
                running[name] = running.get(name, 0.0) + value.detach().float().item()
        running_steps += bad is None
        iteration += 1
        bar.update(1)
        for scheduler in schedulers.values():
            if scheduler is not None:
                scheduler.step()

        if bad is None:
            nonfinite = 0
            model.update_ema()
        else:  # the step was skipped: weights, optimizer state and EMA are as before it
            for optimizer in optimizers.values():
                optimizer.zero_grad(set_to_none=True)
            nonfinite += 1
            detail = model.explain_nonfinite(batch)
            log.warning("iteration %d: non-finite %s, step skipped (%d in a row)%s", iteration, bad, nonfinite,
                        f"; {detail}" if detail else "")
            if nonfinite >= train_opt["max_nonfinite"]:
                last = checkpoint.latest(ckpt_dir)
                raise UserError(f"training stopped at iteration {iteration}: {nonfinite} consecutive non-finite values "
                                f"(last: {bad}); last good checkpoint: {last or 'none yet'}; "
                                "lower the learning rate or set train.grad_clip")

        if iteration % log_cfg["print_freq"] == 0 or iteration == total_iter:
            names = sorted(running)
            sums = all_reduce_(torch.tensor([running[n] for n in names], device=device), world)
            means = (sums / (world * max(running_steps, 1))).tolist()
            lr = optimizers[model.STAGES[0]].param_groups[0]["lr"]
            log.info("iter %d  lr %.3e  %s", iteration, lr, "  ".join(f"{n} {v:.4g}" for n, v in zip(names, means)))
            bar.set_postfix({n: f"{v:.4g}" for n, v in zip(names, means)})
            if writer:
                for n, v in zip(names, means):
                    writer.add_scalar(f"losses/{n}", v, iteration)
                writer.add_scalar("lr", lr, iteration)
            running.clear()
            running_steps = 0

        if val_freq and (iteration % val_freq == 0 or iteration == total_iter):
            for phase, val_set in val_sets.items():
                means = validate(model, val_set, rank, world, device)
                log.info("validation %s at iter %d: %s", phase, iteration,
                         "  ".join(f"{k} {v:.4f}" for k, v in means.items()))
                for metric, value in means.items():
                    if writer:
                        writer.add_scalar(f"metrics/{phase}/{metric}", value, iteration)
                    key = metric if phase == "val" else f"{phase}_{metric}"
                    lower = metric in model.LOWER_IS_BETTER
                    if key not in best or (value < best[key]["value"] if lower else value > best[key]["value"]):
                        best[key] = {"value": value, "iteration": iteration}
                        save(ckpt_dir / f"best_{key}.pth")
                if writer:
                    write_images(writer, model, val_set, opt["logger"]["num_val_images"], iteration)

        if iteration % log_cfg["save_checkpoint_freq"] == 0 or iteration == total_iter:
            save(ckpt_dir / f"iter_{iteration:08d}.pth")
            if rank == 0:
                checkpoint.prune(ckpt_dir, log_cfg["keep_last"])
            barrier(world)

    bar.close()
    if writer:
        writer.close()
    log.info("done: %d iterations; checkpoints in %s%s", iteration, ckpt_dir,
             "".join(f"; best {k} {v['value']:.4f} @ {v['iteration']}" for k, v in best.items()))
    return root


def first_nonfinite(losses: dict, world: int, device: torch.device) -> str | None:
    """Name of the first non-finite loss on any process (all processes agree, so none waits in backward)."""
    names = list(losses)
    flags = torch.tensor([0.0 if torch.isfinite(losses[n]).all() else 1.0 for n in names], device=device)
    flags = all_reduce_(flags, world)
    bad = [n for n, f in zip(names, flags.tolist()) if f > 0]
    return f"loss {bad[0]}" if bad else None


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
