"""SRModel: a super-resolution network trained with a pixel loss (L1, MSE or Charbonnier) on LQ/GT pairs."""
import logging

import torch
import torch.nn.functional as F

from deflow.models.base import BaseModel
from deflow.registry import ARCHS, MODELS
from deflow.schema import Key
from deflow.tiling import pad_to_multiple
from sr.losses import build_loss

log = logging.getLogger("deflow")


@MODELS.register()
class SRModel(BaseModel):
    INFER_INPUT = "image"
    OPTIONS = {
        "train": {
            "pixel_opt": Key(dict, {"type": "L1Loss", "loss_weight": 1.0}, "pixel loss: {type: L1Loss|MSELoss|CharbonnierLoss, loss_weight}"),
        },
    }
    EXAMPLE_SECTIONS = {
        "network_g": {"type": "RRDBNet"},
        "train.optim_g": {"type": "Adam"},
        "train.scheduler": {"type": "MultiStepLR"},
        "datasets": {"train": {"type": "PairedImageDataset"}},
    }
    VAL_METRICS = ("psnr", "ssim", "lpips", "haarpsi")
    LOWER_IS_BETTER = frozenset({"lpips"})

    def __init__(self, opt: dict, device: torch.device):
        super().__init__(opt, device)
        net_opt = dict(opt["network_g"])
        self.nets["g"] = ARCHS.get(net_opt.pop("type"))(**net_opt).to(device)
        self.pixel_loss = build_loss(opt["train"]["pixel_opt"], "train.pixel_opt").to(device)
        self.keep_ema("g", opt["train"]["ema_decay"])
        self.scale = opt["scale"]
        self._lpips = None

    def forward_train(self, batch: dict) -> dict:
        return {"sr": self.nets["g"](batch["lq"])}

    def losses(self, batch: dict, shared: dict, stage: str) -> dict:
        return {"l_pix": self.pixel_loss(shared["sr"], batch["gt"])}

    @torch.no_grad()
    def infer(self, lq: torch.Tensor) -> torch.Tensor:
        net = self.net_for_inference("g")
        was_training = net.training
        net.eval()
        lq, pad_h, pad_w = pad_to_multiple(lq, 4)
        out = net(lq)
        net.train(was_training)
        return out[..., : out.shape[-2] - pad_h * self.scale, : out.shape[-1] - pad_w * self.scale].clamp(0, 1)

    def validate(self, batch: dict) -> dict:
        from metrics import get_preset, load_lpips, score

        val = self.opt["val"]
        if "lpips" in val["metrics"] and self._lpips is None:
            self._lpips = load_lpips(get_preset(val["metric_preset"]).lpips_net or "alex", val["lpips_backbone"],
                                     device=self.device)
            if not self._lpips.available:
                log.warning("LPIPS unavailable: %s", self._lpips.reason)
        values = score(self.infer(batch["lq"]), batch["gt"], preset=val["metric_preset"], crop_border=val["crop_border"],
                       lpips=self._lpips, scale=self.scale, haarpsi="haarpsi" in val["metrics"])
        return {name: v.tolist() for name, v in values.items() if name in val["metrics"]}

    def visuals(self, batch: dict) -> dict:
        sr = self.infer(batch["lq"])
        lq_up = F.interpolate(batch["lq"], size=sr.shape[-2:], mode="nearest")
        return {"lq|sr|gt": torch.cat([lq_up, sr, batch["gt"]], dim=-1)}
