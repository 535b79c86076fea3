"""ESRGANModel: ESRGAN's adversarial stage (Wang et al. 2018, section 3; BasicSR's ESRGANModel and SRGANModel) on
deflow's model contract. An RRDBNet G (or any SR network) and a discriminator D, each with its own optimizer and
schedule (`train.optim_d`, `train.scheduler_d`); inference, validation and EMA are SRModel's.

One iteration: G's output once (`forward_train`, shared by both stages); G's step, at iterations divisible by
`net_d_iters` after the first `net_d_init_iters`, on l_pix + l_percep + l_gan, back-propagated into G alone (D's
parameters get no gradient from it: the trainer back-propagates into the staged network's parameters only); D's
step, every iteration, on l_d_real + l_d_fake from G's output detached. The mean D logits on GT and on G's output
are logged as out_d_real, out_d_fake.
"""
import torch

from deflow.errors import UserError
from deflow.models.base import unwrap
from deflow.registry import ARCHS, MODELS
from deflow.schema import Key
from sr.losses import build_loss
from sr.pixel.model import SRModel


def check_crop_size(opt: dict, discriminator: torch.nn.Module) -> None:
    """A discriminator that judges one crop size only (VGG-style) must get the training crop it judges."""
    size = getattr(discriminator, "input_size", None)
    train_set = opt["datasets"].get("train")
    if size is not None and train_set is not None and train_set.get("gt_size") != size:
        raise UserError(f"datasets.train.gt_size is {train_set.get('gt_size')}, but network_d "
                        f"({opt['network_d']['type']}) judges {size}x{size} crops only; set datasets.train.gt_size: "
                        f"{size} (or network_d.input_size to 128 or 256, whichever the crops are)")


@MODELS.register()
class ESRGANModel(SRModel):
    NETWORKS = TRAINED = ("g", "d")
    INFER_NETWORKS = ("g",)  # an inference config (BasicSR's test options) may leave network_d out
    OPTIONS = {"train": {
        **SRModel.OPTIONS["train"],
        "perceptual_opt": Key((dict, type(None)), None, "perceptual loss: {type: PerceptualLoss, layer_weights: "
                              "{conv5_4: 1.0}, perceptual_weight: 1.0, vgg_weights: FILE}; null = none"),
        "gan_opt": Key(dict, {"type": "GANLoss", "gan_type": "ragan", "loss_weight": 5.0e-3},
                       "GAN loss: {type: GANLoss, gan_type: vanilla|lsgan|hinge|ragan, loss_weight}"),
        "net_d_iters": Key(int, 1, "G steps at the iterations divisible by this; D at every iteration (BasicSR)",
                           minimum=1),
        "net_d_init_iters": Key(int, 0, "the first iterations step D alone (BasicSR)", minimum=0),
    }}
    EXAMPLE_SECTIONS = {**SRModel.EXAMPLE_SECTIONS, "network_d": {"type": "VGGStyleDiscriminator"},
                        "train.optim_d": {"type": "Adam"}}

    def __init__(self, opt: dict, device: torch.device):
        super().__init__(opt, device)
        if opt["network_d"] is not None:
            net_opt = dict(opt["network_d"])
            self.nets["d"] = ARCHS.get(net_opt.pop("type"))(**net_opt).to(device)
            check_crop_size(opt, self.nets["d"])
        self.perceptual_loss = self.gan_loss = None
        self.g_steps = True
        self.d_outputs: dict = {}

    def setup_training(self) -> None:
        """The adversarial and perceptual losses: inference of a model trained with a VGG loss needs no VGG."""
        train = self.opt["train"]
        percep = train["perceptual_opt"]
        self.perceptual_loss = build_loss(percep, "train.perceptual_opt").to(self.device) if percep else None
        self.gan_loss = build_loss(train["gan_opt"], "train.gan_opt").to(self.device)

    def stages(self, iteration: int) -> tuple[str, ...]:
        train = self.opt["train"]
        self.g_steps = iteration % train["net_d_iters"] == 0 and iteration > train["net_d_init_iters"]
        return ("g", "d") if self.g_steps else ("d",)

    def forward_train(self, batch: dict) -> dict:
        with torch.set_grad_enabled(self.g_steps):  # D's step alone needs G's output, not its graph
            return super().forward_train(batch)

    def losses(self, batch: dict, shared: dict, stage: str) -> dict:
        sr, gt = shared["sr"], batch["gt"]
        if stage == "g":
            judge = unwrap(self.nets["d"])  # no DDP gradient sync for D: nothing reaches its parameters here
            losses = {"l_pix": self.pixel_loss(sr, gt)}
            if self.perceptual_loss is not None:
                losses["l_percep"] = self.perceptual_loss(sr, gt)
            with torch.no_grad():
                real = judge(gt) if self.gan_loss.needs_real_for_g else None
            losses["l_gan"] = self.gan_loss.generator_loss(judge(sr), real)
            return losses
        real, fake = self.nets["d"](gt), self.nets["d"](sr.detach())
        self.d_outputs = {"out_d_real": real.detach().mean(), "out_d_fake": fake.detach().mean()}
        l_d_real, l_d_fake = self.gan_loss.discriminator_losses(real, fake)
        return {"l_d_real": l_d_real, "l_d_fake": l_d_fake}

    def log_values(self) -> dict:
        return self.d_outputs
