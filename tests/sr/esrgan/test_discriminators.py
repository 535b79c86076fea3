"""The discriminators: BasicSR's state_dict layouts (so its net_d checkpoints load strictly), VGG-style's one
logit per 128 or 256 px crop (an independent functional forward agrees), U-Net's per-pixel logits under spectral
normalisation, and a wrong input size as one UserError."""
import pytest
import torch
import torch.nn.functional as F

from deflow.errors import UserError
from sr.esrgan.discriminators import UNetDiscriminatorSN, VGGStyleDiscriminator

BN = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def basicsr_vgg_keys(input_size: int) -> list[str]:
    """BasicSR's VGGStyleDiscriminator parameter and buffer names, written out from its layout."""
    keys = ["conv0_0.weight", "conv0_0.bias", "conv0_1.weight", *(f"bn0_1.{b}" for b in BN)]
    for stage in range(1, 5 if input_size == 128 else 6):
        for half in (0, 1):
            keys += [f"conv{stage}_{half}.weight", *(f"bn{stage}_{half}.{b}" for b in BN)]
    return keys + ["linear1.weight", "linear1.bias", "linear2.weight", "linear2.bias"]


def reference_vgg_forward(w: dict, x: torch.Tensor, input_size: int) -> torch.Tensor:
    """VGGStyleDiscriminator in eval mode from its state_dict alone (BasicSR's forward, written functionally)."""
    def bn(name, t):
        return F.batch_norm(t, w[f"{name}.running_mean"], w[f"{name}.running_var"], w[f"{name}.weight"],
                            w[f"{name}.bias"], training=False)

    feat = F.leaky_relu(F.conv2d(x, w["conv0_0.weight"], w["conv0_0.bias"], padding=1), 0.2)
    feat = F.leaky_relu(bn("bn0_1", F.conv2d(feat, w["conv0_1.weight"], stride=2, padding=1)), 0.2)
    for stage in range(1, 5 if input_size == 128 else 6):
        feat = F.leaky_relu(bn(f"bn{stage}_0", F.conv2d(feat, w[f"conv{stage}_0.weight"], padding=1)), 0.2)
        feat = F.leaky_relu(bn(f"bn{stage}_1", F.conv2d(feat, w[f"conv{stage}_1.weight"], stride=2, padding=1)), 0.2)
    feat = F.leaky_relu(F.linear(feat.flatten(1), w["linear1.weight"], w["linear1.bias"]), 0.2)
    return F.linear(feat, w["linear2.weight"], w["linear2.bias"])


@pytest.mark.parametrize("input_size", [128, 256])
def test_vgg_discriminator_has_basicsrs_layout_and_one_logit_per_crop(input_size):
    torch.manual_seed(0)
    net = VGGStyleDiscriminator(num_in_ch=3, num_feat=4, input_size=input_size)
    assert list(net.state_dict()) == basicsr_vgg_keys(input_size)
    assert net.linear1.weight.shape == (100, 4 * 8 * 4 * 4)
    for module in net.modules():  # BatchNorm statistics other than the initial ones
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1), module.running_var.uniform_(0.5, 2.0)
    x = torch.rand(2, 3, input_size, input_size)
    out = net.eval()(x)
    assert out.shape == (2, 1)
    assert torch.allclose(out, reference_vgg_forward(net.state_dict(), x, input_size), atol=1e-5)


def test_vgg_discriminator_refuses_other_sizes_in_one_line():
    with pytest.raises(UserError, match="takes 128 or 256, got 192"):
        VGGStyleDiscriminator(num_feat=4, input_size=192)
    with pytest.raises(UserError, match=r"judges 128x128 crops, got 64x64; set datasets.train.gt_size: 128"):
        VGGStyleDiscriminator(num_feat=4)(torch.rand(1, 3, 64, 64))


def test_unet_discriminator_has_basicsrs_spectral_norm_layout_and_per_pixel_logits():
    torch.manual_seed(0)
    net = UNetDiscriminatorSN(num_in_ch=3, num_feat=4)
    keys = ["conv0.weight", "conv0.bias"]
    for i in range(1, 9):
        keys += [f"conv{i}.weight_orig", f"conv{i}.weight_u", f"conv{i}.weight_v"]
    assert sorted(net.state_dict()) == sorted(keys + ["conv9.weight", "conv9.bias"])
    x = torch.rand(2, 3, 32, 24)
    assert net(x).shape == (2, 1, 32, 24)
    with torch.no_grad():
        for i in range(1, 9):
            getattr(net, f"conv{i}").weight_orig.mul_(10.0)
    for _ in range(50):  # power iterations, as training runs them
        net(x)
    for i in range(1, 9):  # the largest singular value of every normalised conv is 1, whatever the raw weight's
        conv = getattr(net, f"conv{i}")
        assert torch.linalg.matrix_norm(conv.weight_orig.flatten(1), ord=2) > 3.0
        assert torch.linalg.matrix_norm(conv.weight.flatten(1), ord=2).item() == pytest.approx(1.0, abs=2e-2), i
    with pytest.raises(UserError, match="divisible by 8"):
        net(torch.rand(1, 3, 20, 24))
