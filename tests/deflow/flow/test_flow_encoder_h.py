"""The conditioning encoder (RRDB features per level) and the domain-invariant function h."""
import re

import pytest
import torch

from deflow.archs.rrdbnet import RRDBNet
from deflow.errors import UserError
from deflow.flow import BicubicNoise, ConditionEncoder
from deflow.flow.encoder import tap_indices
from deflow.registry import H_FUNCTIONS


def test_taps_are_the_official_blocks_for_23_and_spread_for_fewer():
    assert tap_indices(23) == (1, 8, 15, 22)
    assert tap_indices(4) == (0, 1, 2, 3)
    assert tap_indices(2) == (1, 1, 1, 1)


@pytest.mark.parametrize("scale, sides", [(8, [16, 8, 4]), (4, [8, 4, 2])])
def test_one_map_per_level_at_the_level_resolution(scale, sides):
    """A 4 x 4 conditioning image and flow input 4 * scale: level l is at 4 * scale / 2^l."""
    encoder = ConditionEncoder(scale=scale, L=3, nf=8, nb=2, gc=4)
    maps = encoder(torch.rand(2, 3, 4, 4))
    assert [tuple(m.shape) for m in maps] == [(2, 40, s, s) for s in sides]


def test_level_at_the_conditioning_resolution_gets_the_trunk_then_the_block_stack():
    torch.manual_seed(0)
    encoder = ConditionEncoder(scale=4, L=2, nf=8, nb=4, gc=4)
    lr = torch.rand(1, 3, 5, 5)
    feat, outputs = encoder.conv_first(lr), []
    for block in encoder.body:
        feat = block(feat)
        outputs.append(feat)
    expected = torch.cat([feat + encoder.conv_body(feat), *outputs], 1)
    assert torch.allclose(encoder(lr)[1], expected, atol=1e-6)


def test_load_pretrained_accepts_basicsr_and_original_esrgan_names(tmp_path):
    torch.manual_seed(0)
    esrgan = RRDBNet(num_feat=8, num_block=2, num_grow_ch=4)
    renames = ((r"^body\.", "RRDB_trunk."), (r"\.rdb", ".RDB"), ("conv_body", "trunk_conv"), ("conv_up", "upconv"),
               ("conv_hr", "HRconv"))
    original = {}
    for key, value in esrgan.state_dict().items():
        for old, new in renames:
            key = re.sub(old, new, key)
        original["module.RRDB." + key] = value
    for name, state in (("basicsr.pth", {"params": esrgan.state_dict()}), ("esrgan.pth", original)):
        torch.save(state, tmp_path / name)
        encoder = ConditionEncoder(scale=8, L=3, nf=8, nb=2, gc=4)
        encoder.load_pretrained(str(tmp_path / name))
        for key, value in encoder.state_dict().items():
            assert torch.equal(value, esrgan.state_dict()[key]), key


def test_load_pretrained_refuses_a_missing_or_mismatched_file(tmp_path):
    encoder = ConditionEncoder(scale=4, L=3, nf=8, nb=3, gc=4)
    with pytest.raises(UserError, match="nowhere.pth"):
        encoder.load_pretrained(str(tmp_path / "nowhere.pth"))
    torch.save(RRDBNet(num_feat=8, num_block=2, num_grow_ch=4).state_dict(), tmp_path / "short.pth")
    with pytest.raises(UserError, match="missing"):
        encoder.load_pretrained(str(tmp_path / "short.pth"))


def test_h_is_registered_downsamples_and_adds_reproducible_noise():
    h = H_FUNCTIONS.get("bicubic_noise")(factor=4, noise_std=0.03)
    assert isinstance(h, BicubicNoise)
    x = torch.rand(2, 3, 64, 32)
    lr = h.downsample(x)
    assert lr.shape == (2, 3, 16, 8)
    noisy = [h.add_noise(lr, torch.Generator().manual_seed(3)) for _ in range(2)]
    assert torch.equal(noisy[0], noisy[1])
    assert abs((noisy[0] - lr).std().item() - 0.03) < 0.005
    assert torch.equal(h(x, torch.Generator().manual_seed(3)), noisy[0])
