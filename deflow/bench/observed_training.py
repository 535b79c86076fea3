"""deflow.trainer.train runs observed and perturbed from outside, for experiments (deflow/bench/incidents.py): hooks on
the built Training state and after every iteration's guard, copies of the state to compare bitwise, and injected
faults (a NaN or infinite loss, an infinite gradient, a corrupt batch). Nothing here changes the trainer: the hooks
and faults are patches that exist only inside their `with` block."""
import contextlib
import io
from pathlib import Path
from unittest import mock

import torch

from deflow import trainer
from deflow.flow.deflow_model import DeFlowModel
from sr.pixel.model import SRModel


def train_observed(opt: dict, on_start=None, on_iteration=None) -> Path:
    """deflow.trainer.train(opt), with `on_start(t)` once its Training state is built and `on_iteration(t, bad)` after
    every iteration's guard (bad: what was not finite, None when the step was taken; also when the guard stops the
    run). Its log goes to its train.log alone. Returns the experiment folder."""
    real_build, real_guard = trainer.build_training, trainer.guard

    def build_training(*args):
        t = real_build(*args)
        if on_start:
            on_start(t)
        return t

    def guard(t, bad, *args):
        try:
            real_guard(t, bad, *args)
        finally:
            if on_iteration:
                on_iteration(t, bad)

    quiet = io.StringIO()
    with mock.patch.object(trainer, "build_training", build_training), mock.patch.object(trainer, "guard", guard), \
            contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
        return trainer.train(opt)


def training_state(t) -> dict[str, torch.Tensor]:
    """Copies of network g's weights, its EMA and its optimizer's state."""
    state = {f"net/{k}": v.clone() for k, v in t.model.nets["g"].state_dict().items()}
    ema = t.model.emas["g"].net if "g" in t.model.emas else None
    state.update({f"ema/{k}": v.clone() for k, v in (ema.state_dict() if ema is not None else {}).items()})
    for i, per_param in enumerate(t.optimizers["g"].state.values()):
        state.update({f"optim/{i}/{k}": torch.as_tensor(v).clone() for k, v in per_param.items()})
    return state


def bitwise_equal(a: dict, b: dict, prefix: str = "") -> bool:
    keys = [k for k in a if k.startswith(prefix)]
    return keys == [k for k in b if k.startswith(prefix)] and all(torch.equal(a[k], b[k]) for k in keys)


@contextlib.contextmanager
def injected_nonfinite(nan_loss_at, infinite_grad_at=(), model: type = SRModel):
    """The first loss of every stage of `model` NaN at the iterations `nan_loss_at`; at `infinite_grad_at` finite
    losses whose gradient is infinite (+ sqrt(w - w) for the first weight w: the value adds 0, the gradient
    1 / (2 sqrt(0)))."""
    real_stages, real_losses = model.stages, model.losses
    now = {}

    def stages(self, iteration):
        now["iteration"] = iteration
        return real_stages(self, iteration)

    def losses(self, batch, shared, stage):
        out = real_losses(self, batch, shared, stage)
        if now["iteration"] in nan_loss_at:
            first = next(iter(out))
            return {**out, first: out[first] * float("nan")}
        if now["iteration"] in infinite_grad_at:
            w = next(self.nets["g"].parameters())
            return {k: v + torch.sqrt((w - w.detach()).sum()) for k, v in out.items()}
        return out

    with mock.patch.object(model, "stages", stages), mock.patch.object(model, "losses", losses):
        yield


@contextlib.contextmanager
def nan_pixel_batch(iteration: int):
    """A DeFlowModel's batch of `iteration` (as the trainer moves it to the device) arrives with one NaN pixel, as a
    corrupt image would."""
    real_to_device, calls = DeFlowModel.to_device, []

    def to_device(self, batch):
        calls.append(None)
        batch = real_to_device(self, batch)
        if len(calls) == iteration:
            batch["gt"] = batch["gt"].clone()
            batch["gt"][0, :, 0, 0] = float("nan")
        return batch

    with mock.patch.object(DeFlowModel, "to_device", to_device):
        yield


def logged_warnings(root: Path) -> list[str]:
    """The warnings of an experiment's train.log, without their time stamps."""
    return [line.split(" WARNING ", 1)[1] for line in (root / "train.log").read_text().splitlines()
            if " WARNING " in line]
