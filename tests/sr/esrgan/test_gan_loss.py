"""GANLoss against each formulation's formula on fixed logits, written with log-sigmoids: vanilla (non-saturating),
lsgan, hinge and ESRGAN's relativistic average (eq. 1-2, halved as BasicSR's ESRGANModel), D's gradient through
both terms of the relativistic differences."""
import pytest
import torch
import torch.nn.functional as F

from deflow.errors import UserError
from sr.esrgan.gan_loss import GANLoss

REAL = torch.tensor([[2.0], [0.5], [-1.0], [3.0]])
FAKE = torch.tensor([[-0.5], [1.5], [-2.0], [0.25]])


def log_d(x):  # log sigmoid(x): log of the probability "real"
    return F.logsigmoid(x)


def log_not_d(x):  # log (1 - sigmoid(x))
    return F.logsigmoid(-x)


def test_vanilla_is_binary_cross_entropy_with_the_non_saturating_generator_loss():
    loss = GANLoss("vanilla", loss_weight=0.1)
    l_real, l_fake = loss.discriminator_losses(REAL, FAKE)
    assert l_real.item() == pytest.approx(-log_d(REAL).mean().item(), rel=1e-6)
    assert l_fake.item() == pytest.approx(-log_not_d(FAKE).mean().item(), rel=1e-6)
    assert loss.generator_loss(FAKE).item() == pytest.approx(0.1 * -log_d(FAKE).mean().item(), rel=1e-6)


def test_lsgan_is_the_squared_distance_to_the_labels():
    loss = GANLoss("lsgan", loss_weight=2.0)
    l_real, l_fake = loss.discriminator_losses(REAL, FAKE)
    assert l_real.item() == pytest.approx(((REAL - 1) ** 2).mean().item())
    assert l_fake.item() == pytest.approx((FAKE ** 2).mean().item())
    assert loss.generator_loss(FAKE).item() == pytest.approx(2.0 * ((FAKE - 1) ** 2).mean().item())


def test_hinge():
    loss = GANLoss("hinge", loss_weight=0.5)
    l_real, l_fake = loss.discriminator_losses(REAL, FAKE)
    assert l_real.item() == pytest.approx(torch.clamp(1 - REAL, min=0).mean().item())  # (0 + 0.5 + 2 + 0) / 4
    assert l_fake.item() == pytest.approx(torch.clamp(1 + FAKE, min=0).mean().item())
    assert l_real.item() == pytest.approx(0.625) and l_fake.item() == pytest.approx((0.5 + 2.5 + 0 + 1.25) / 4)
    assert loss.generator_loss(FAKE).item() == pytest.approx(0.5 * -FAKE.mean().item())


def test_ragan_is_esrgans_relativistic_average_gan():
    loss = GANLoss("ragan", loss_weight=5e-3)
    real, fake = REAL.clone().requires_grad_(), FAKE.clone().requires_grad_()
    l_real, l_fake = loss.discriminator_losses(real, fake)
    # L_D = -E[log D_Ra(x_r, x_f)] - E[log(1 - D_Ra(x_f, x_r))], D_Ra(a, b) = sigmoid(C(a) - E[C(b)])
    expected_real = -log_d(REAL - FAKE.mean()).mean() / 2
    expected_fake = -log_not_d(FAKE - REAL.mean()).mean() / 2
    assert l_real.item() == pytest.approx(expected_real.item(), rel=1e-6)
    assert l_fake.item() == pytest.approx(expected_fake.item(), rel=1e-6)
    (l_real + l_fake).backward()
    reference_real, reference_fake = REAL.clone().requires_grad_(), FAKE.clone().requires_grad_()
    (-log_d(reference_real - reference_fake.mean()).mean() / 2
     - log_not_d(reference_fake - reference_real.mean()).mean() / 2).backward()
    assert torch.allclose(real.grad, reference_real.grad) and torch.allclose(fake.grad, reference_fake.grad)
    # L_G = -E[log(1 - D_Ra(x_r, x_f))] - E[log D_Ra(x_f, x_r)]; D's logits on real are constants for G
    fake_for_g = FAKE.clone().requires_grad_()
    l_g = loss.generator_loss(fake_for_g, REAL.clone().requires_grad_())
    expected_g = 5e-3 * (-log_not_d(REAL - FAKE.mean()).mean() - log_d(FAKE - REAL.mean()).mean()) / 2
    assert l_g.item() == pytest.approx(expected_g.item(), rel=1e-6)
    assert loss.needs_real_for_g and not GANLoss("vanilla").needs_real_for_g


def test_labels_move_the_targets_and_an_unknown_formulation_is_a_user_error():
    smooth = GANLoss("vanilla", real_label_val=0.9)
    l_real, _ = smooth.discriminator_losses(REAL, FAKE)
    assert l_real.item() == pytest.approx(-(0.9 * log_d(REAL) + 0.1 * log_not_d(REAL)).mean().item(), rel=1e-6)
    with pytest.raises(UserError, match="gan_type: expected one of vanilla, lsgan, hinge, ragan, got 'wgan'"):
        GANLoss("wgan")
