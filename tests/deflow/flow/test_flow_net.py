"""The conditional flow net and DeFlowNet: inversion, latents paired by level, translation, NLL, size, layer names."""
import math
import re

import pytest
import torch

from deflow.errors import UserError
from deflow.flow import ConditionalFlowNet, DeFlowNet, first_nonfinite_layer, flow_size_multiple
from deflow.registry import ARCHS

TINY = dict(L=2, K=2, hidden_channels=8, n_transition=1, cond_nf=4, cond_nb=1, cond_gc=4, scale=4)


def perturb_(module, std=0.05):
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn_like(p) * std)


def warmed_flow(dtype=torch.float64, **kwargs):
    """A tiny flow after ActNorm init, perturbed, eval mode; its conditioning maps for a (2, 3, 8, 8) input."""
    torch.manual_seed(0)
    flow = ConditionalFlowNet(**{"in_channels": 3, "L": 2, "K": 2, "hidden_channels": 8, "cond_channels": 5,
                                 **kwargs}).to(dtype)
    x = torch.rand(2, 3, 8, 8, dtype=dtype)
    conds = [torch.randn(2, 5, 4, 4, dtype=dtype), torch.randn(2, 5, 2, 2, dtype=dtype)]
    flow.encode(x, conds)
    perturb_(flow)
    return flow.eval(), x, conds


def tiny_deflow(**kwargs):
    torch.manual_seed(0)
    net = DeFlowNet(**{**TINY, **kwargs}).double()
    gt, lq = torch.rand(2, 3, 16, 16, dtype=torch.float64), torch.rand(2, 3, 4, 4, dtype=torch.float64)
    net.nll(gt, lq, 0)
    perturb_(net, std=0.01)  # larger pushes this random net's latents to ~1e6, where float64 round trips lose digits
    return net.eval(), gt, lq


@pytest.mark.parametrize("split_levels, keys", [((1,), {1, 2}), ((), {2})])
def test_flow_net_inverts_and_keys_latents_by_level(split_levels, keys):
    flow, x, conds = warmed_flow(split_levels=split_levels)
    latents, logdet = flow.encode(x, conds)
    assert set(latents) == keys
    assert {k: tuple(z.shape) for k, z in latents.items()} == {k: flow.latent_shapes(2, 8, 8)[k] for k in keys}
    x_back, logdet_back = flow.decode(latents, conds)
    assert (x_back - x).abs().max() < 1e-5
    assert torch.allclose(logdet + logdet_back, torch.zeros(2, dtype=torch.float64), atol=1e-8)


def test_flow_net_logdet_matches_autograd_jacobian():
    flow, x, conds = warmed_flow()
    x, conds = x[:1, :, :4, :4], [conds[0][:1, :, :2, :2], conds[1][:1, :, :1, :1]]

    def encode(v):
        latents = flow.encode(v.view_as(x), conds)[0]
        return torch.cat([latents[k].flatten() for k in sorted(latents)])
    _, expected = torch.linalg.slogdet(torch.autograd.functional.jacobian(encode, x.flatten()))
    assert abs(flow.encode(x, conds)[1].item() - expected.item()) < 1e-4


def test_size_multiple_is_lcm_of_flow_squeezes_and_twice_the_scale():
    assert flow_size_multiple(4, 3) == 8
    assert flow_size_multiple(8, 3) == 16
    assert flow_size_multiple(2, 4) == 16
    assert flow_size_multiple(3, 3) == 24


def test_split_levels_are_one_based_and_below_L():
    flow = ConditionalFlowNet(L=3, K=1, hidden_channels=4, cond_channels=2, split_levels=(1, 2))
    assert set(flow.latent_channels) == {1, 2, 3}
    with pytest.raises(UserError, match="split_levels"):
        ConditionalFlowNet(L=2, K=1, split_levels=(2,))


def test_translation_adds_each_level_shift_to_that_level_latent():
    """A = 0: u = mu exactly, so encoding the translation shows which latent got which mu."""
    net, gt, lq = tiny_deflow(lr_noise_std=0.0)
    with torch.no_grad():
        for shift in net.shifts.values():
            shift.A.zero_()
        net.shifts["1"].mean_shift.fill_(0.5)
        net.shifts["2"].mean_shift.zero_()
        y = net.translate(gt, lq, dequant_noise=False)
        conds = net.condition(lq)
        z_x, z_y = net.encode(gt, conds)[0], net.encode(y, conds)[0]
        assert torch.allclose(z_y[1] - z_x[1], torch.full_like(z_x[1], 0.5), atol=1e-6)
        assert torch.allclose(z_y[2], z_x[2], atol=1e-6)
        assert (net.translate_back(y, lq) - gt).abs().max() < 1e-5
        assert (net.translate(gt, lq, heat=0.0, dequant_noise=False) - gt).abs().max() < 1e-5


def test_translate_reuses_one_noise_draw_and_is_reproducible():
    net, gt, lq = tiny_deflow()
    with torch.no_grad():
        y = net.translate(gt, lq, torch.Generator().manual_seed(4), dequant_noise=False)
        g = torch.Generator().manual_seed(4)
        conds = net.condition(lq, g)
        latents = net.encode(gt, conds)[0]
        shifted = {k: z + net.shifts[str(k)].sample_shift(z.shape, g) for k, z in latents.items()}
        assert torch.equal(y, net.decode(shifted, conds)[0])
        assert torch.equal(y, net.translate(gt, lq, torch.Generator().manual_seed(4), dequant_noise=False))


def test_sample_gives_images_of_the_flow_size():
    net, _, lq = tiny_deflow()
    with torch.no_grad():
        for label in (0, 1):
            x = net.sample(lq, label, torch.Generator().manual_seed(0))
            assert x.shape == (2, 3, 16, 16) and torch.isfinite(x).all()


def test_nll_reports_bits_per_dim_and_the_official_bits_per_pixel():
    net, gt, lq = tiny_deflow()
    out = net.nll(gt, lq, torch.tensor([0, 1]), dequant_noise=False)
    assert out.bits_per_dim.shape == (2,)
    assert torch.allclose(out.bits_per_pixel, 3 * out.bits_per_dim - 2 * math.log2(32))
    with pytest.raises(UserError, match="4x"):
        net.nll(gt[:, :, :8], lq, 0)
    with pytest.raises(UserError, match="multiples of 8"):
        DeFlowNet(**{**TINY, "L": 3}).sample(lq[:, :, :3, :3], 0)


def test_nll_decreases_when_training_a_tiny_config():
    torch.manual_seed(0)
    net = DeFlowNet(L=2, K=2, hidden_channels=16, cond_nf=16, cond_nb=2, cond_gc=8, scale=4)
    gt = torch.rand(4, 3, 16, 16)
    lq = torch.nn.functional.avg_pool2d(gt, 4)
    label = torch.tensor([0, 1, 0, 1])
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    losses = []
    for step in range(50):
        loss = net.nll(gt, lq, label, generator=torch.Generator().manual_seed(step)).bits_per_dim.mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert all(math.isfinite(v) for v in losses)
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 0.5


def test_first_nonfinite_layer_names_the_layer_that_produced_it_readably():
    net, gt, lq = tiny_deflow()
    assert first_nonfinite_layer(net, net.nll, gt, lq, 0) is None
    with torch.no_grad():
        net.flow.level2.step2.coupling.net[4].conv.bias.fill_(float("inf"))
    name = first_nonfinite_layer(net, net.nll, gt, lq, 0)
    assert name == "flow.level2.step2.coupling.net.4.conv"
    assert not any(h for m in net.modules() for h in m._forward_hooks.values())


def old_format(state: dict, n_transition: int) -> dict:
    """A DeFlowNet state dict with the flow's keys as they were before its layers had names: level l was
    `levels.{l-1}`, a sequence of squeeze (0), transition steps and conditional steps, each step a sequence of
    ActNorm (0), InvConv1x1 (1) and the coupling (2) holding `injector` and `affine`; splits were `splits.{l}`."""
    parts = {"actnorm": "0", "invconv": "1", "injector.net": "2.injector", "coupling.net": "2.affine"}

    def rename(key):
        if split := re.fullmatch(r"flow\.split(\d+)\.(.*)", key):
            return f"flow.splits.{split[1]}.{split[2]}"
        step = re.fullmatch(r"flow\.level(\d+)\.(transition|step)(\d+)\."
                            r"(actnorm|invconv|injector\.net|coupling\.net)\.(.*)", key)
        if not step:
            return key
        level, kind, index, part, rest = step.groups()
        position = int(index) + (n_transition if kind == "step" else 0)
        return f"flow.levels.{int(level) - 1}.layers.{position}.layers.{parts[part]}.{rest}"
    return {rename(key): value for key, value in state.items()}


def test_checkpoints_of_the_unnamed_layers_still_load():
    trained, _, _ = tiny_deflow()
    old = old_format(trained.state_dict(), TINY["n_transition"])
    assert {"flow.levels.1.layers.2.layers.2.affine.4.conv.bias", "flow.levels.0.layers.1.layers.1.lower",
            "flow.levels.0.layers.2.layers.2.injector.0.actnorm.logs", "flow.splits.1.prior.logs"} <= set(old)
    assert not any(".level1." in key or ".step" in key or ".split1." in key for key in old)
    torch.manual_seed(1)
    fresh = DeFlowNet(**TINY).double()
    fresh.load_state_dict(old)  # strict: every key renamed, none left over
    assert all(torch.equal(fresh.state_dict()[k], v) for k, v in trained.state_dict().items())


def test_official_aim_config_has_the_official_parameter_count():
    """DeFlow's AIM model (the official RRDBGlowNet built from codes/confs/DeFlow-AIM-RWSR.yml) counts 62,935,305
    parameters. Ours omits three things that hold parameters there but compute nothing: 9,252 identity matrices
    registered as parameters (6x6 and 96x96, one per domain shift), SRFlow's conditional prior conv `f` on the top
    latent (320 -> 96, 3x3, with bias: 276,576; unused with noInitialInj) and the ESRGAN head the flow never reads
    (upconv3, HRconv, conv_last: 75,587). Everything else, step by step, is the same size."""
    net = ARCHS.get("DeFlowNet")(L=3, K=16, hidden_channels=128, n_transition=2, split_levels=[1], cond_nf=64,
                                 cond_nb=23, cond_gc=32, scale=8, std_init_shift=0.01)
    count = sum(p.numel() for p in net.parameters())
    assert abs(count / 62_935_305 - 1) < 0.01
    assert count + 9_252 + 320 * 96 * 9 + 96 + 3 * 36_928 - 36_928 + 1_731 == 62_935_305


def test_under_autocast_only_the_conditioning_encoder_leaves_fp32():
    """train.amp: the encoder may run in bf16; every flow layer and shift sees fp32, so the NLL and translation do."""
    torch.manual_seed(0)
    net = DeFlowNet(**TINY)
    gt, lq = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 4, 4)
    reference = net.nll(gt, lq, 1, generator=torch.Generator().manual_seed(1)).bits_per_dim
    seen = {"encoder": set(), "flow": set()}

    def record(part):
        def hook(module, args, out):
            outs = out if isinstance(out, tuple) else (out,)
            seen[part].update(t.dtype for t in outs if torch.is_tensor(t) and t.is_floating_point())
        return hook
    for part, module in (("encoder", net.encoder), ("flow", net.flow), ("flow", net.shifts)):
        for sub in module.modules():
            if isinstance(sub, torch.nn.Conv2d):
                sub.register_forward_hook(record(part))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        nll = net.nll(gt, lq, 1, generator=torch.Generator().manual_seed(1)).bits_per_dim
        translated = net.translate(gt, lq, torch.Generator().manual_seed(2))
    assert seen["encoder"] == {torch.bfloat16} and seen["flow"] == {torch.float32}
    assert nll.dtype == translated.dtype == torch.float32
    torch.testing.assert_close(nll, reference, atol=0.05, rtol=0)  # only the bf16 conditioning moves it
