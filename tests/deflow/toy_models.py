"""Two toy model types that exercise the model contract (deflow/models/base.py) without a real family:

ToyTwoStageModel   a GAN-shaped model: networks g and d, one shared forward pass, BasicSR's net_d_iters /
                   net_d_init_iters stage selection, an after-step hook that updates extra state (as a MoCo queue)
BurstMeanModel     a classical multi-frame pipeline: no parameters, a burst in, the mean frame upsampled out
"""
import torch
import torch.nn.functional as F
from torch import nn

from deflow.models.base import BaseModel, unwrap
from deflow.registry import ARCHS, MODELS
from deflow.schema import Key

EVENTS = {"forward": 0, "stages": [], "after_step": []}


@ARCHS.register()
class ToyConv(nn.Module):
    """Args:
        channels: image channels.
    """

    def __init__(self, channels: int = 3):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x):
        return x + self.conv(x)


@MODELS.register()
class ToyTwoStageModel(BaseModel):
    NETWORKS = TRAINED = ("g", "d")
    OPTIONS = {"train": {
        "net_d_iters": Key(int, 1, "G steps every this many iterations (BasicSR)"),
        "net_d_init_iters": Key(int, 0, "D alone for this many first iterations (BasicSR)"),
        "nan_in_d_at": Key((int, type(None)), None, "make D's loss NaN at this iteration"),
    }}

    def __init__(self, opt, device):
        super().__init__(opt, device)
        for name in self.NETWORKS:
            net_opt = dict(opt[f"network_{name}"])
            self.nets[name] = ARCHS.get(net_opt.pop("type"))(**net_opt).to(device)
        self.keep_ema("g", opt["train"]["ema_decay"])
        self.queue = torch.zeros(4)
        self.iteration = 0

    def stages(self, iteration):
        self.iteration = iteration
        train = self.opt["train"]
        g_steps = iteration % train["net_d_iters"] == 0 and iteration > train["net_d_init_iters"]
        stages = ("g", "d") if g_steps else ("d",)
        EVENTS["stages"].append(stages)
        return stages

    def forward_train(self, batch):
        EVENTS["forward"] += 1
        return {"fake": self.nets["g"](batch["lq"])}

    def losses(self, batch, shared, stage):
        if stage == "g":
            judged = unwrap(self.nets["d"])(shared["fake"]).mean()
            return {"l_pix": (shared["fake"] - batch["gt"]).abs().mean(), "l_gan": 0.1 * judged}
        fake = self.nets["d"](shared["fake"].detach()).pow(2).mean()
        real = (self.nets["d"](batch["gt"]) - 1).pow(2).mean()
        nan = float("nan") if self.iteration == self.opt["train"]["nan_in_d_at"] else 0.0
        return {"l_d": fake + real + nan}

    def after_step(self, iteration):
        super().after_step(iteration)
        EVENTS["after_step"].append(iteration)
        weight = unwrap(self.nets["g"]).conv.weight.detach().cpu()
        self.queue = torch.cat([self.queue[1:], weight.mean().reshape(1)])

    def validate(self, batch):
        return {}

    def state(self):
        return {**super().state(), "queue": self.queue.clone()}

    def load_state(self, state):
        super().load_state(state)
        self.queue = state["queue"].clone()


@ARCHS.register()
class BurstMeanUpsampler(nn.Module):
    """The mean of a burst, bicubic-upsampled: no parameters.

    Args:
        scale: output side / input side.
    """

    def __init__(self, scale: int = 2):
        super().__init__()
        self.scale = scale

    def forward(self, frames):
        return F.interpolate(frames.mean(1), scale_factor=self.scale, mode="bicubic", align_corners=False)


@MODELS.register()
class BurstMeanModel(BaseModel):
    TRAINED = ()
    INFER_INPUT = "burst"

    def __init__(self, opt, device):
        super().__init__(opt, device)
        net_opt = dict(opt["network_g"])
        self.nets["g"] = ARCHS.get(net_opt.pop("type"))(**net_opt).to(device)
        self.scale = opt["scale"]

    def infer(self, frames):
        return self.nets["g"](frames).clamp(0, 1)
