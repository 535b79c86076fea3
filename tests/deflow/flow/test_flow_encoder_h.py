"""The conditioning encoder (RRDB features per level) and the domain-invariant function h: a new h is one
registered class, used by DeFlowNet (network_g.h), create_dataset (--h) and DeFlowModel.convert alike."""
import re

import pytest
import torch
import torch.nn.functional as F

from deflow.archs.rrdbnet import RRDBNet
from deflow.config import resolve_options
from deflow.errors import UserError
from deflow.flow import BicubicNoise, ConditionEncoder, DeFlowNet
from deflow.flow.encoder import tap_indices
from deflow.flow.h import conditioning_image
from deflow.imageio import read_image, write_image
from deflow.registry import H_FUNCTIONS, MODELS, load_plugins

NET = dict(L=2, K=1, hidden_channels=8, n_transition=1, cond_nf=4, cond_nb=1, cond_gc=4)


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
    lr = h.downsample(torch.rand(2, 3, 64, 32))
    assert lr.shape == (2, 3, 16, 8)
    noisy = [h.perturb(lr, torch.Generator().manual_seed(3)) for _ in range(2)]
    assert torch.equal(noisy[0], noisy[1])
    assert abs((noisy[0] - lr).std().item() - 0.03) < 0.005


class MaxPoolH:
    """A test h: max-pooling by `factor`, and a constant `offset` as its online part."""

    def __init__(self, factor: int = 2, offset: float = 0.0):
        self.factor, self.offset = factor, offset

    def downsample(self, x):
        return F.max_pool2d(x, self.factor)

    def perturb(self, lr, generator=None):
        return lr + self.offset


@pytest.fixture
def max_pool_h(monkeypatch):
    load_plugins()
    monkeypatch.setitem(H_FUNCTIONS._entries, "max_pool", MaxPoolH)  # registered for this test only


def test_network_g_h_builds_the_registered_h_at_the_network_scale(max_pool_h):
    torch.manual_seed(0)
    net = DeFlowNet(**NET, scale=4, h={"type": "max_pool", "offset": 0.5})
    assert isinstance(net.h, MaxPoolH) and (net.h.factor, net.h.offset) == (4, 0.5)
    lq = torch.rand(1, 3, 4, 4)
    assert all(torch.equal(a, b) for a, b in zip(net.condition(lq), net.encoder(lq + 0.5)))


@pytest.mark.parametrize("h, noise, message", [
    ({"type": "bicubic_noise", "noise_sd": 0.1}, None,
     "network_g.h.noise_sd: unknown key; did you mean network_g.h.noise_std?"),
    ({"type": "max_pool", "ofset": 0.1}, None, "network_g.h.ofset: unknown key; did you mean network_g.h.offset?"),
    ({"noise_std": 0.1}, None, "network_g.h.type: required key missing"),
    ({"type": "bicubic_noise", "noise_std": 0.1}, 0.03, "network_g.h.noise_std"),
])
def test_h_section_errors_name_the_key(max_pool_h, h, noise, message):
    with pytest.raises(UserError, match=re.escape(message)):
        DeFlowNet(**NET, h=h, lr_noise_std=noise)


def test_lr_noise_std_of_existing_configs_is_the_default_h_noise():
    assert DeFlowNet(**NET, lr_noise_std=0.01).h.noise_std == 0.01
    assert DeFlowNet(**NET).h.noise_std == 0.03


def test_create_dataset_writes_the_conditioning_images_of_the_chosen_h(max_pool_h, tmp_path):
    from deflow.tools.create_dataset import main
    from deflow.tools.sample_photos import photo

    image = photo("astronaut")[:, 100:132, 120:168]
    write_image(tmp_path / "src" / "a.png", image)
    for h in ("max_pool", "bicubic_noise"):
        main(["-source", str(tmp_path / "src"), "-target", str(tmp_path / h), "-scales", "1", "4", "--h", h])
    written = read_image(tmp_path / "max_pool" / "4x" / "a.png")
    assert torch.equal(written, conditioning_image(MaxPoolH(4), image))
    assert torch.equal(written, F.max_pool2d(image, 4))  # 8-bit values stay 8-bit under max-pooling
    assert not torch.equal(written, read_image(tmp_path / "bicubic_noise" / "4x" / "a.png"))


@torch.no_grad()
def test_convert_conditions_on_the_configured_h(max_pool_h):
    network_g = {"type": "DeFlowNet", **NET, "h": {"type": "max_pool"}}
    opt = resolve_options({"model_type": "DeFlowModel", "scale": 4, "network_g": network_g}, training=False)
    torch.manual_seed(0)
    model = MODELS.get("DeFlowModel")(opt, torch.device("cpu"))
    net = model.net_for_inference("g").eval()
    for p in net.parameters():  # so that the zero-initialised nets read the conditioning
        p.add_(torch.randn_like(p) * 0.05)
    image = torch.rand(1, 3, 16, 24)

    def translated(lq):
        return net.translate(image, lq, torch.Generator().manual_seed(1)).clamp(0, 1)
    out = model.convert(image, "degrade", torch.Generator().manual_seed(1))
    assert torch.equal(out, translated(conditioning_image(MaxPoolH(4), image)))
    assert not torch.equal(out, translated(conditioning_image(BicubicNoise(4), image)))
