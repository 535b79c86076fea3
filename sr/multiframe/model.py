"""Multi-frame model types (INFER_INPUT = "burst": infer takes (N, T, 3, h, w), frame 0 the reference).

- `BurstFusionModel`: a classical pipeline, `network_g` one of the parameter-free fusions of sr/multiframe/archs.py
  (ShiftAndAdd, BackProjection, BTVL1); nothing trains, `scripts/test_sr.py -opt CONF` evaluates it.
- `BurstHybridModel`: classical fusion (`network_f`, parameter-free) whose fused image, confidence map (samples per
  HR pixel) and bicubic reference frame feed a learned refiner (`network_g`, BurstRefiner) trained with a pixel loss
  on synthetic bursts (SyntheticBurstDataset), the "classical fusion -> learned refiner" hybrid of DBSR-style burst SR
  (Bhat et al., CVPR 2021) kept to a single-image network, as the IPOL Handheld pipeline (Lafenetre et al. 2023)
  keeps its deblurring a separate stage. The fusion has no parameters, so with a fixed pool of training bursts
  (SyntheticBurstDataset.num_bursts) each is fused once: `train.fusion_cache` keeps that many fused bursts in memory,
  keyed by the burst's bytes and the fusion's settings, and a slow fusion (BTVL1) costs one pass over the pool.
Validation, the pixel loss and EMA are SRModel's.
"""
import hashlib
import json

import torch
import torch.nn.functional as F

from deflow.registry import ARCHS, MODELS
from deflow.schema import Key
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
    OPTIONS = {"train": {
        **SRModel.OPTIONS["train"],
        "fusion_cache": Key(int, 0, "fused training bursts kept in memory (oldest dropped first), keyed by the "
                            "burst's bytes and network_f's settings; set it to the train set's num_bursts. 0: none",
                            minimum=0),
    }}
    EXAMPLE_SECTIONS = {"network_f": {"type": "ShiftAndAdd"}, "network_g": {"type": "BurstRefiner"},
                        "train.optim_g": {"type": "Adam"}, "datasets": {"train": {"type": "SyntheticBurstDataset"}}}

    def __init__(self, opt: dict, device: torch.device):
        super().__init__(opt, device)
        net_opt = dict(opt["network_f"])
        self.nets["f"] = ARCHS.get(net_opt.pop("type"))(**net_opt).to(device)
        self.cache_size = opt["train"]["fusion_cache"]
        self.cache: dict[str, dict] = {}

    def fusion(self, bursts: torch.Tensor) -> dict:
        return self.nets["f"](bursts)

    def cache_key(self, burst: torch.Tensor) -> str:
        """A digest of one burst's dtype, shape and bytes and of the fusion's current settings."""
        digest = hashlib.sha256(json.dumps(self.nets["f"].settings(), sort_keys=True).encode())
        digest.update(f"{burst.dtype}{tuple(burst.shape)}".encode())
        digest.update(burst.detach().cpu().contiguous().numpy().tobytes())
        return digest.hexdigest()

    def cached_fusion(self, bursts: torch.Tensor) -> dict:
        """`fusion`, with each burst's output looked up in (or added to) the cache of `train.fusion_cache` entries."""
        keys = [self.cache_key(burst) for burst in bursts]
        missing = [i for i, key in enumerate(keys) if key not in self.cache]
        if missing:
            fused = self.fusion(bursts[missing])
            for j, i in enumerate(missing):
                self.cache[keys[i]] = {name: value[j].cpu() for name, value in fused.items()}
        entries = [self.cache[key] for key in keys]
        while len(self.cache) > self.cache_size:
            del self.cache[next(iter(self.cache))]
        return {name: torch.stack([e[name] for e in entries]).to(bursts.device) for name in entries[0]}

    @torch.no_grad()
    def refiner_inputs(self, bursts: torch.Tensor, cached: bool = False) -> tuple[tuple[torch.Tensor, ...], dict]:
        """((fused (N, 3, H, W), confidence (N, 1, H, W), reference frame (N, 3, h, w)); the fusion's output). The
        confidence is the sample count over the count expected per HR pixel (frames used / scale^2); `cached`: the
        fusion through the cache (training)."""
        fused = self.cached_fusion(bursts) if cached and self.cache_size else self.fusion(bursts)
        expected = (fused["keep"].sum(1).float() / self.scale ** 2).reshape(-1, 1, 1, 1)
        return (fused["image"], fused["count"] / expected, bursts[:, 0]), fused

    def forward_train(self, batch: dict) -> dict:
        return {"sr": self.nets["g"](*self.refiner_inputs(batch["lq"], cached=True)[0])}

    @torch.no_grad()
    def restore(self, bursts: torch.Tensor) -> tuple[torch.Tensor, dict]:
        net = self.net_for_inference("g")
        was_training = net.training
        net.eval()
        inputs, fused = self.refiner_inputs(bursts)
        out = net(*inputs)
        net.train(was_training)
        return out.clamp(0, 1), fused
