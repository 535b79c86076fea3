"""DeFlowModel: trains DeFlowNet by the NLL of unpaired clean (label 0) and degraded (label 1) images,
and translates clean images into degraded ones (official code: codes/models/SRFL_Glow_model.py, codes/translate.py)."""
import zlib

import torch
import torch.nn.functional as F

from deflow.data.colour_normalization import ColourNormalization
from deflow.flow.debug import first_nonfinite_layer
from deflow.flow.flownet import flow_size_multiple
from deflow.flow.h import conditioning_image
from deflow.models.base import BaseModel, unwrap
from deflow.registry import ARCHS, MODELS

MODES = ("degrade", "restore", "sample_clean", "sample_degraded")


def image_generator(seed: int, name: str, device: torch.device) -> torch.Generator:
    """A generator seeded by (seed, image name): an image's output does not depend on which images come before it."""
    return torch.Generator(device=device).manual_seed(seed * 1_000_003 + zlib.crc32(name.encode()))


@MODELS.register()
class DeFlowModel(BaseModel):
    EXAMPLE_SECTIONS = {
        "network_g": {"type": "DeFlowNet"},
        "train.optim_g": {"type": "Adam"},
        "train.scheduler": {"type": "MultiStepLR"},
        "datasets": {"train": {"type": "UnpairedDomainsDataset"}},
    }
    # nll*: bits per dimension; nll_bpp: the official code's figure (bits per pixel, summed over RGB)
    VAL_METRICS = ("nll", "nll_clean", "nll_degraded", "nll_bpp")
    LOWER_IS_BETTER = frozenset(VAL_METRICS)

    def __init__(self, opt: dict, device: torch.device):
        super().__init__(opt, device)
        net_opt = dict(opt["network_g"])
        self.nets["g"] = ARCHS.get(net_opt.pop("type"))(**net_opt).to(device)
        self.keep_ema("g", opt["train"]["ema_decay"])
        normalize = (opt.get("datasets", {}).get("train") or {}).get("normalize")
        self.normalize = ColourNormalization(normalize) if normalize else None

    def losses(self, batch: dict, shared: dict, stage: str) -> dict:
        # Calling the (possibly DDP-wrapped) module, not .nll, so DDP synchronises the gradients.
        nll = self.nets["g"](batch["gt"], batch["lq"], batch["label"])
        return {"nll": nll.bits_per_dim.mean()}

    @torch.no_grad()
    def validate(self, batch: dict) -> dict:
        net = self.net_for_inference("g")
        generator = torch.Generator(device=self.device).manual_seed(0)  # the same dequantisation noise every time
        nll = net.nll(batch["gt"], batch["lq"], batch["label"], generator=generator)
        bpd = nll.bits_per_dim.tolist()
        domain = "nll_clean" if int(batch["label"][0]) == 0 else "nll_degraded"
        values = {"nll": bpd, domain: bpd, "nll_bpp": nll.bits_per_pixel.tolist()}
        return {name: v for name, v in values.items() if name in self.opt["val"]["metrics"]}

    @torch.no_grad()
    def visuals(self, batch: dict) -> dict:
        net = self.net_for_inference("g")
        generator = torch.Generator(device=self.device).manual_seed(0)
        if int(batch["label"][0]) == 0:
            return {"clean|translated": torch.cat([batch["gt"], net.translate(batch["gt"], batch["lq"], generator)], -1)}
        return {"degraded|restored": torch.cat([batch["gt"], net.translate_back(batch["gt"], batch["lq"], generator)], -1)}

    @torch.no_grad()
    def explain_nonfinite(self, batch: dict) -> str:
        net = unwrap(self.nets["g"])
        layer = first_nonfinite_layer(net, net.nll, batch["gt"], batch["lq"], batch["label"])
        return f"first non-finite output in layer {layer}" if layer else ""

    def conditioning_image(self, image: torch.Tensor) -> torch.Tensor:
        """image (B, 3, H, W) -> its conditioning image under the net's h, as dataset creation writes it."""
        return conditioning_image(self.net_for_inference("g").h, image)

    @torch.no_grad()
    def convert(self, image: torch.Tensor, mode: str, generator: torch.Generator, heat: float = 1.0) -> torch.Tensor:
        """One image (1, 3, H, W) of any size -> (1, 3, H, W): padded to what the flow needs, then cropped back.

        degrade: clean -> degraded; restore: degraded -> clean (posterior mean); sample_clean / sample_degraded:
        a new image of that domain given only h(image)."""
        net = self.net_for_inference("g")
        multiple = flow_size_multiple(net.scale, net.flow.L)
        height, width = image.shape[-2:]
        pad_h, pad_w = (-height) % multiple, (-width) % multiple
        padded = F.pad(image, (0, pad_w, 0, pad_h), mode="reflect" if min(height, width) > max(pad_h, pad_w) else "replicate")
        if mode == "restore" and self.normalize is not None:
            padded = self.normalize(padded)
        lq = self.conditioning_image(padded)
        if mode == "degrade":
            out = net.translate(padded, lq, generator, heat=heat)
        elif mode == "restore":
            out = net.translate_back(padded, lq, generator)
        else:
            out = net.sample(lq, 0 if mode == "sample_clean" else 1, generator)
        out = out[..., :height, :width].clamp(0, 1)
        if mode in ("degrade", "sample_degraded") and self.normalize is not None:
            out = self.normalize.inverse(out)
        return out
