"""Adversarial losses with the formulation an explicit option (`gan_type`), on the discriminator's logits."""
import torch
import torch.nn.functional as F
from torch import nn

from deflow.errors import UserError
from deflow.registry import LOSSES

GAN_TYPES = ("vanilla", "lsgan", "hinge", "ragan")


@LOSSES.register()
class GANLoss(nn.Module):
    """G's and D's adversarial losses, from D's logits on real (GT) and fake (G's output) images.

    vanilla  binary cross-entropy on the logits (Goodfellow et al. 2014, G's non-saturating form)
    lsgan    squared error to the labels (Mao et al. 2017)
    hinge    D: mean relu(1 - real) + mean relu(1 + fake); G: -mean fake (Lim & Ye 2017)
    ragan    relativistic average (ESRGAN, Wang et al. 2018, eq. 1-2): D_Ra(a, b) = sigmoid(C(a) - mean C(b));
             D: -log D_Ra(real, fake) - log(1 - D_Ra(fake, real)), G: the same with the labels swapped, each
             halved as in BasicSR's ESRGANModel. D's gradient flows through both terms of each difference, as in
             the paper and the BasicSR that DeFlow trained with (newer BasicSR detaches the means in D's step).

    Args:
        gan_type: vanilla, lsgan, hinge or ragan.
        real_label_val: target of real images (vanilla, lsgan, ragan).
        fake_label_val: target of fake images (vanilla, lsgan, ragan).
        loss_weight: multiplier of G's adversarial loss (5e-3 in ESRGAN); D's losses are not weighted.
    """

    def __init__(self, gan_type: str = "ragan", real_label_val: float = 1.0, fake_label_val: float = 0.0,
                 loss_weight: float = 1.0):
        super().__init__()
        if gan_type not in GAN_TYPES:
            raise UserError(f"train.gan_opt.gan_type: expected one of {', '.join(GAN_TYPES)}, got {gan_type!r}")
        self.gan_type = gan_type
        self.real_label_val, self.fake_label_val = real_label_val, fake_label_val
        self.loss_weight = loss_weight

    @property
    def needs_real_for_g(self) -> bool:
        """Whether G's loss judges G's output against D's logits on real images too."""
        return self.gan_type == "ragan"

    def criterion(self, logits: torch.Tensor, real: bool, for_d: bool) -> torch.Tensor:
        """The loss of `logits` for the target real/fake, in D's step or in G's."""
        if self.gan_type == "hinge":
            if not for_d:
                return -logits.mean()
            return F.relu(1 - logits).mean() if real else F.relu(1 + logits).mean()
        target = torch.full_like(logits, self.real_label_val if real else self.fake_label_val)
        if self.gan_type == "lsgan":
            return F.mse_loss(logits, target)
        return F.binary_cross_entropy_with_logits(logits, target)

    def generator_loss(self, fake: torch.Tensor, real: torch.Tensor | None = None) -> torch.Tensor:
        """G's weighted loss from D's logits on G's output (`fake`, with the graph to G) and, for ragan, on GT."""
        if self.gan_type != "ragan":
            return self.loss_weight * self.criterion(fake, True, for_d=False)
        real = real.detach()
        relativistic = self.criterion(real - fake.mean(), False, False) + self.criterion(fake - real.mean(), True, False)
        return self.loss_weight * relativistic / 2

    def discriminator_losses(self, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(loss on real, loss on fake) from D's logits on GT and on G's detached output; their sum is D's loss."""
        if self.gan_type != "ragan":
            return self.criterion(real, True, for_d=True), self.criterion(fake, False, for_d=True)
        return (self.criterion(real - fake.mean(), True, True) / 2, self.criterion(fake - real.mean(), False, True) / 2)
