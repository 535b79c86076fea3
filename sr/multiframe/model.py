"""Multi-frame model types (INFER_INPUT = "burst": infer takes (N, T, 3, h, w), frame 0 the reference).

- `BurstFusionModel`: a classical pipeline, `network_g` one of the parameter-free fusions of sr/multiframe/archs.py
  (ShiftAndAdd, BackProjection, BTVL1); nothing trains, `scripts/test_sr.py -opt CONF` evaluates it.
- `BurstHybridModel`: classical fusion (`network_f`, parameter-free) whose fused image, confidence map (samples per
  HR pixel) and bicubic reference frame feed a learned refiner (`network_g`, BurstRefiner) trained with a pixel loss
  on synthetic bursts (SyntheticBurstDataset), the "classical fusion -> learned refiner" hybrid of DBSR-style burst SR
  (Bhat et al., CVPR 2021) kept to a single-image network, as the IPOL Handheld pipeline (Lafenetre et al. 2023)
  keeps its deblurring a separate stage.
Validation, the pixel loss and EMA are SRModel's.
"""
import torch
import torch.nn.functional as F

from deflow.registry import ARCHS, MODELS
from sr.pixel.model import SRModel


@MODELS.register()
class BurstFusionModel(SRModel):
    INFER_INPUT = "burst"
    TRAINED = ()
    EXAMPLE_SECTIONS = {"network_g": {"type": "BTVL1"}, "datasets": {"val": {"type": "SyntheticBurstDataset"}}}

    def fusion(self, bursts: torch.Tensor) -> dict:
        """The fusion network's output: {"image", "count", "confidence", "keep"} (sr/multiframe/archs.py)."""
        return self.nets["g"](bursts)

    @torch.no_grad()
    def restore(self, bursts: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """(the restored images (N, 3, H, W), the fusion's output)."""
        fused = self.fusion(bursts)
        return fused["image"].clamp(0, 1), fused

    def infer(self, bursts: torch.Tensor) -> torch.Tensor:
        return self.restore(bursts)[0]

    def visuals(self, batch: dict) -> dict:
        sr = self.infer(batch["lq"])
        lq_up = F.interpolate(batch["lq"][:, 0], size=sr.shape[-2:], mode="nearest")
        return {"lq|sr|gt": torch.cat([lq_up, sr, batch["gt"]], dim=-1)}


@MODELS.register()
class BurstHybridModel(BurstFusionModel):
    NETWORKS = ("f", "g")
    TRAINED = ("g",)
    EXAMPLE_SECTIONS = {"network_f": {"type": "ShiftAndAdd"}, "network_g": {"type": "BurstRefiner"},
                        "train.optim_g": {"type": "Adam"}, "datasets": {"train": {"type": "SyntheticBurstDataset"}}}

    def __init__(self, opt: dict, device: torch.device):
        super().__init__(opt, device)
        net_opt = dict(opt["network_f"])
        self.nets["f"] = ARCHS.get(net_opt.pop("type"))(**net_opt).to(device)

    def fusion(self, bursts: torch.Tensor) -> dict:
        return self.nets["f"](bursts)

    @torch.no_grad()
    def refiner_inputs(self, bursts: torch.Tensor) -> tuple[tuple[torch.Tensor, ...], dict]:
        """((fused (N, 3, H, W), confidence (N, 1, H, W), reference frame (N, 3, h, w)); the fusion's output). The
        confidence is the sample count over the count expected per HR pixel (frames used / scale^2)."""
        fused = self.fusion(bursts)
        expected = (fused["keep"].sum(1).float() / self.scale ** 2).reshape(-1, 1, 1, 1)
        return (fused["image"], fused["count"] / expected, bursts[:, 0]), fused

    def forward_train(self, batch: dict) -> dict:
        return {"sr": self.nets["g"](*self.refiner_inputs(batch["lq"])[0])}

    @torch.no_grad()
    def restore(self, bursts: torch.Tensor) -> tuple[torch.Tensor, dict]:
        net = self.net_for_inference("g")
        was_training = net.training
        net.eval()
        inputs, fused = self.refiner_inputs(bursts)
        out = net(*inputs)
        net.train(was_training)
        return out.clamp(0, 1), fused
