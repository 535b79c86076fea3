"""Optimizers and schedules by name from torch: one of each per trained network.

    train.optim_<name>:     {type: Adam, lr: 2.0e-4, betas: [0.9, 0.99]}     any class of torch.optim
    train.scheduler:        {type: MultiStepLR, milestones: [...]}           any class of torch.optim.lr_scheduler
    train.scheduler_<name>: the same, for one network only (models with several optimizers)
    train.warmup_iter:      linear warm-up in front of every schedule
"""
import inspect

import torch

from deflow.errors import UserError
from deflow.registry import nearest


class _TorchNamespace:
    """Adapts a torch module (torch.optim, torch.optim.lr_scheduler) to the registry's `get`/`names`."""

    def __init__(self, module, base, kind: str):
        self.module, self.base, self.kind = module, base, kind

    def names(self):
        return sorted(n for n, v in vars(self.module).items()
                      if inspect.isclass(v) and issubclass(v, self.base) and v is not self.base and not n.startswith("_"))

    def get(self, name: str):
        if name in self.names():
            return getattr(self.module, name)
        close = nearest(name, self.names())
        hint = f"; did you mean {close!r}?" if close else f"; known: {', '.join(self.names())}"
        raise UserError(f"unknown {self.kind} {name!r}{hint}")


def torch_optimizers() -> _TorchNamespace:
    return _TorchNamespace(torch.optim, torch.optim.Optimizer, "optimizer (from torch.optim)")


def torch_schedulers() -> _TorchNamespace:
    return _TorchNamespace(torch.optim.lr_scheduler, torch.optim.lr_scheduler.LRScheduler, "scheduler (from torch.optim.lr_scheduler)")


def check_buildable(train_opt: dict, networks) -> None:
    """Build each network's optimizer and schedule for a stand-in parameter and take two steps: a value torch refuses
    (betas outside [0, 1), a schedule that cannot step) is a UserError naming its section, before any work."""
    for name in networks:
        section = f"train.optim_{name}"
        try:
            optimizer = build_optimizer(train_opt[f"optim_{name}"], [torch.zeros(1, requires_grad=True)])
            section = f"train.scheduler_{name}" if train_opt.get(f"scheduler_{name}") else "train.scheduler"
            scheduler = build_scheduler(train_opt, optimizer, name)
            for _ in range(2):
                optimizer.step()
                if scheduler is not None:
                    scheduler.step()
        except (ValueError, TypeError, ZeroDivisionError) as exc:
            raise UserError(f"{section}: {exc}") from None


def build_optimizer(section: dict, params):
    kwargs = {k: v for k, v in section.items() if k != "type" and v is not None}
    return torch_optimizers().get(section["type"])(params, **kwargs)


def build_scheduler(train_opt: dict, optimizer, network: str = "g"):
    """Linear warm-up (lr * (k + 1) / warmup_iter at iteration k < warmup_iter), then the network's schedule
    counted from the end of the warm-up; stepped once per iteration. None when there is neither."""
    lr_sched = torch.optim.lr_scheduler
    warmup = train_opt["warmup_iter"]
    parts = []
    if warmup > 1:
        parts.append(lr_sched.LinearLR(optimizer, start_factor=1.0 / warmup, total_iters=warmup - 1))
    section = train_opt.get(f"scheduler_{network}") or train_opt.get("scheduler")
    if section:
        kwargs = {k: v for k, v in section.items() if k != "type" and v is not None}
        parts.append(torch_schedulers().get(section["type"])(optimizer, **kwargs))
    if len(parts) == 2:
        return lr_sched.SequentialLR(optimizer, parts, milestones=[warmup])
    return parts[0] if parts else None
