"""The DA convolution applies each sample's own kernel; the network's size is the paper's."""
import pytest
import torch
import torch.nn.functional as F

from sr.dasr.da_conv import DAConv
from sr.dasr.dasr_arch import DASRNet
from sr.dasr.encoder import DASREncoder


def test_da_conv_applies_a_different_kernel_per_sample():
    torch.manual_seed(0)
    conv = DAConv(channels=6, rep_channels=8, reduction=2)
    x = torch.rand(1, 6, 9, 9).expand(3, 6, 9, 9)  # one input, three times
    rep = torch.randn(3, 8)
    rep[2] = rep[0]
    out = conv(x, rep)
    assert not torch.allclose(out[0], out[1], atol=1e-4)  # different representations: different outputs
    assert torch.equal(out[0], out[2])                     # equal representations: equal outputs


def test_da_conv_matches_a_per_sample_depthwise_convolution():
    """Independent computation: sample by sample, the predicted kernel as a depth-wise conv, then the 1x1 conv, plus
    the features gated by the sigmoid of the modulation branch."""
    torch.manual_seed(1)
    conv = DAConv(channels=4, rep_channels=8, reduction=4)
    x, rep = torch.randn(3, 4, 7, 7), torch.randn(3, 8)
    out = conv(x, rep)
    for i in range(3):
        kernel = conv.kernel(rep[i:i + 1]).reshape(4, 1, 3, 3)
        y = F.leaky_relu(F.conv2d(x[i:i + 1], kernel, padding=1, groups=4), 0.1)
        gate = conv.gate(rep[i:i + 1, :, None, None])
        torch.testing.assert_close(out[i:i + 1], conv.conv(y) + x[i:i + 1] * gate, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("switches", [dict(da_kernel=False), dict(channel_modulation=False)])
def test_each_ablation_removes_one_conditioning_branch(switches):
    torch.manual_seed(2)
    both_off = DAConv(4, 8, da_kernel=False, channel_modulation=False)
    x, rep = torch.rand(2, 4, 6, 6), torch.randn(2, 8)
    assert torch.equal(both_off(x, rep), both_off(x, torch.randn(2, 8)))  # no branch reads the representation
    one_off = DAConv(4, 8, **switches)
    assert not torch.allclose(one_off(x, rep), one_off(x, torch.randn(2, 8)))  # the other branch still does


def test_x4_model_has_the_papers_5_84_million_parameters():
    """Generator + encoder without its MLP head (DASR, Tab. 3: 5.8 M; 5.84 M from the layer definitions)."""
    g, e = DASRNet(scale=4), DASREncoder()
    count = sum(p.numel() for p in g.parameters()) + sum(p.numel() for p in e.features.parameters())
    assert abs(count / 5.84e6 - 1) < 0.01, count
    one_da_conv = sum(p.numel() for p in g.groups[0].blocks[0].da1.parameters())
    assert one_da_conv == 64 * 64 + 64 * 576 + 64 * 64 + 64 + 64 * 8 + 8 * 64  # 46,144


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_dasr_net_upscales_by_its_scale(scale):
    g, e = DASRNet(scale=scale, n_groups=1, n_blocks=1, n_feats=8, rep_dim=16), DASREncoder([4, 4, 8, 8, 16, 16], 8)
    x = torch.rand(2, 3, 10, 11)
    fea, proj = e(x)
    assert fea.shape == (2, 16) and proj.shape == (2, 8)
    assert g(x, fea).shape == (2, 3, 10 * scale, 11 * scale)
