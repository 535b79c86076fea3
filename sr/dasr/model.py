"""DASRModel (Wang et al., CVPR 2021) and BlindSRModel, its baseline without the encoder, on deflow's model contract.

Both train on HR crops only (`datasets.train.type: HRPatchesDataset`), degraded on the model's device at every
iteration by `train.degradation` (a `degradations` pipeline: preset, file or inline steps), both crops of an image
with one degradation (degrade.py). The SR loss sees crop 0 only, as the official code's.

DASRModel has two networks, the SR network `g` (DASRNet) and the degradation encoder `e` (DASREncoder), and two
stages (official `trainer.py`):
    stage 1, iterations 1 .. train.encoder_iters:  e alone, on the contrastive loss (crop 0 the query, crop 1 the key)
    stage 2, the rest:                             e and g on L1 + contrastive (the L1 also reaches e through the
                                                   representation, as in the paper's joint training)
Each network has its own optimizer and schedule (`train.optim_<g|e>`, `train.scheduler_<g|e>`), both counted from
iteration 1; g's optimizer does not step in stage 1. The MoCo key encoder and queue (moco.py) live in the model's
state: the momentum update and the enqueue happen in `after_step`, so an iteration the trainer's guard skips changes
neither, and checkpoints hold both, so a resumed run continues exactly. Inference needs no kernel: the representation
is pooled over the whole LR input (or over each tile, with test_sr.py's --tile).
"""
import os

import torch

from deflow.errors import UserError
from deflow.models.base import unwrap
from deflow.registry import ARCHS, MODELS
from deflow.schema import Key
from sr.dasr.degrade import build_pipeline, check_shared, degrade_shared, step_generator
from sr.dasr.moco import MoCoHead, gather
from sr.pixel.model import SRModel


@MODELS.register()
class BlindSRModel(SRModel):
    """Any SR network trained with a pixel loss on HR crops degraded online by a random pipeline (crop 0 of each
    item): DASR without its encoder, and with `train.degradation: bicubic` the bicubic-only network."""

    OPTIONS = {"train": {
        **SRModel.OPTIONS["train"],
        "degradation": Key((str, list, dict), "dasr_iso", "HR -> LR pipeline drawn per image at every iteration: a "
                           "degradations preset (dasr_iso, dasr_aniso_noise, bicubic, ...), a YAML file, or {steps: "
                           "[...]} inline"),
    }}
    EXAMPLE_SECTIONS = {**SRModel.EXAMPLE_SECTIONS, "datasets": {"train": {"type": "HRPatchesDataset"}}}

    def __init__(self, opt: dict, device: torch.device):
        super().__init__(opt, device)
        self.pipeline = None
        self.iteration = 0
        self.rank = int(os.environ.get("RANK", "0"))

    def setup_training(self) -> None:
        super().setup_training()
        train_set = self.opt["datasets"].get("train") or {}
        if train_set.get("type") != "HRPatchesDataset":
            raise UserError(f"datasets.train.type: {type(self).__name__} degrades HR crops itself; use "
                            f"HRPatchesDataset (dataroot_gt, gt_size, patches), not {train_set.get('type')!r}")
        self.pipeline = build_pipeline(self.opt["train"]["degradation"], self.scale)
        check_shared(self.pipeline, train_set["patches"], self.scale)

    def stages(self, iteration: int) -> tuple[str, ...]:
        self.iteration = iteration
        return super().stages(iteration)

    def degrade(self, gt: torch.Tensor) -> torch.Tensor:
        """This iteration's LR crops (B, P, 3, h, w) of the HR crops (B, P, 3, H, W)."""
        return degrade_shared(self.pipeline, gt, step_generator(self.opt["manual_seed"], self.rank, self.iteration))

    def forward_train(self, batch: dict) -> dict:
        lr = self.degrade(batch["gt"])
        return {"lr": lr, "sr": self.nets["g"](lr[:, 0])}

    def losses(self, batch: dict, shared: dict, stage: str) -> dict:
        return {"l_pix": self.pixel_loss(shared["sr"], batch["gt"][:, 0])}


@MODELS.register()
class DASRModel(BlindSRModel):
    NETWORKS = TRAINED = ("g", "e")
    OPTIONS = {"train": {
        **BlindSRModel.OPTIONS["train"],
        "pixel_opt": Key(dict, {"type": "L1Loss", "loss_weight": 255.0}, "SR loss; loss_weight 255 is DASR's L1 on "
                         "0-255 images, which sets its balance with the contrastive loss"),
        "encoder_iters": Key(int, 0, "stage 1: the first this many iterations train the encoder alone (DASR: 100 "
                             "epochs of about 970 iterations)", minimum=0),
        "contrastive_weight": Key(float, 1.0, "weight of the contrastive loss in both stages (DASR: 1)", minimum=0),
        "moco": {
            "queue_size": Key(int, 8192, "K, keys kept as negatives; a multiple of the global batch (DASR: 8192)",
                              minimum=1),
            "momentum": Key(float, 0.999, "m of the key encoder's momentum update (DASR: 0.999)", minimum=0, maximum=1),
            "temperature": Key(float, 0.07, "tau of InfoNCE (DASR: 0.07)", minimum=1e-6),
        },
    }}
    EXAMPLE_SECTIONS = {**BlindSRModel.EXAMPLE_SECTIONS, "network_g": {"type": "DASRNet"},
                        "network_e": {"type": "DASREncoder"}, "train.optim_e": {"type": "Adam"}}

    def __init__(self, opt: dict, device: torch.device):
        super().__init__(opt, device)
        net_opt = dict(opt["network_e"])
        self.nets["e"] = ARCHS.get(net_opt.pop("type"))(**net_opt).to(device)
        wanted = getattr(self.nets["g"], "compress", None)
        if wanted is None:
            raise UserError(f"network_g: DASRModel conditions the SR network on the representation; use DASRNet, "
                            f"not {opt['network_g']['type']} (BlindSRModel trains networks without an encoder)")
        if wanted[0].in_features != self.nets["e"].rep_dim:
            raise UserError(f"network_g.rep_dim ({wanted[0].in_features}) must equal the encoder's representation "
                            f"size (network_e.widths[-1] = {self.nets['e'].rep_dim})")
        self.moco: MoCoHead | None = None  # training state: built by setup_training
        self.sr_stage, self.shared_keys, self.accuracy = True, None, None

    def setup_training(self) -> None:
        super().setup_training()
        moco, batch = self.opt["train"]["moco"], self.opt["datasets"]["train"]["batch_size_per_gpu"]
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if self.opt["datasets"]["train"]["patches"] < 2:
            raise UserError("datasets.train.patches: DASRModel needs 2 crops per image (query and key); set patches: 2")
        if moco["queue_size"] % (batch * world):
            n = batch * world
            below, above = moco["queue_size"] // n * n, (moco["queue_size"] // n + 1) * n
            raise UserError(f"train.moco.queue_size ({moco['queue_size']}) must be a multiple of the global batch "
                            f"size ({batch} per process x {world} process(es) = {n}), so the queue advances by whole "
                            f"batches; set it to {below or above} or {above}, or change batch_size_per_gpu")
        encoder = unwrap(self.nets["e"])
        self.moco = MoCoHead(encoder, encoder.proj_dim, moco["queue_size"], moco["momentum"], moco["temperature"],
                             project=lambda net, x: net(x)[1]).to(self.device)

    def load_configured_weights(self) -> list[str]:
        loaded = super().load_configured_weights()
        if self.moco is not None and "e" in loaded:
            self.moco.reset_keys(unwrap(self.nets["e"]))
        return loaded

    def stages(self, iteration: int) -> tuple[str, ...]:
        self.iteration = iteration
        self.sr_stage = iteration > self.opt["train"]["encoder_iters"]
        return ("e", "g") if self.sr_stage else ("e",)

    def forward_train(self, batch: dict) -> dict:
        lr = self.degrade(batch["gt"])
        fea, proj = self.nets["e"](lr[:, 0])
        self.moco.train(True)
        keys = self.moco.keys(lr[:, 1])
        logits = self.moco.logits(proj, keys)
        self.shared_keys = keys
        self.accuracy = (logits.detach().argmax(dim=1) == 0).float().mean()
        shared = {"lr": lr, "l_contrast": self.opt["train"]["contrastive_weight"] * self.moco.loss_of(logits)}
        if self.sr_stage:
            shared["l_pix"] = self.pixel_loss(self.nets["g"](lr[:, 0], fea), batch["gt"][:, 0])
        return shared

    def losses(self, batch: dict, shared: dict, stage: str) -> dict:
        if stage == "g":
            return {"l_pix": shared["l_pix"]}
        return {"l_contrast": shared["l_contrast"], **({"l_pix": shared["l_pix"]} if self.sr_stage else {})}

    def after_step(self, iteration: int) -> None:
        super().after_step(iteration)
        self.moco.momentum_update(unwrap(self.nets["e"]))
        self.moco.enqueue(gather(self.shared_keys))

    def log_values(self) -> dict:
        return {"acc_contrast": self.accuracy} if self.accuracy is not None else {}

    @torch.no_grad()
    def represent(self, lq: torch.Tensor) -> torch.Tensor:
        """(N, rep_dim) degradation representations of LR images (eval mode), pooled over each whole image."""
        encoder = self.net_for_inference("e")
        was_training = encoder.training
        encoder.eval()
        fea = encoder.represent(lq)
        encoder.train(was_training)
        return fea

    @torch.no_grad()
    def infer(self, lq: torch.Tensor) -> torch.Tensor:
        net = self.net_for_inference("g")
        was_training = net.training
        net.eval()
        out = net(lq, self.represent(lq))
        net.train(was_training)
        return out.clamp(0, 1)

    def state(self) -> dict:
        state = super().state()
        return {**state, "moco": self.moco.state_dict()} if self.moco is not None else state

    def load_state(self, state: dict) -> None:
        super().load_state(state)
        if self.moco is not None and "moco" in state:
            self.moco.load_state_dict(state["moco"])
