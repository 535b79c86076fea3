"""Weights from outside: a BasicSR / Real-ESRGAN RRDBNet file ({params, params_ema}, `module.` prefixes) loads
strictly and computes what an independent functional RRDBNet computes with it; xinntao/ESRGAN's two older key
layouts load through the converter and round-trip; scripts/net_interp.py blends a PSNR and a GAN model into a
checkpoint test_sr runs, and bad input ends in one line, exit 2."""
import pytest
import torch
import torch.nn.functional as F
import yaml

from deflow import checkpoint
from deflow.archs.esrgan_keys import to_basicsr_keys
from deflow.archs.rrdbnet import RRDBNet
from deflow.config import load_options
from deflow.errors import UserError
from deflow.imageio import write_image
from deflow.models.loading import load_for_inference
from deflow.tools.net_interp import main as net_interp_main
from deflow.trainer import train

NF, NB, GC = 8, 2, 4


def basicsr_state(scale: int, seed: int = 0) -> dict:
    """Random RRDBNet weights under BasicSR's key names, shaped from its layout (no deflow module involved)."""
    generator = torch.Generator().manual_seed(seed)

    def conv(c_out, c_in):
        return (0.1 * torch.randn(c_out, c_in, 3, 3, generator=generator), 0.01 * torch.randn(c_out, generator=generator))

    shapes = {"conv_first": (NF, 3 * (4 // scale) ** 2)}
    for b in range(NB):
        for r in (1, 2, 3):
            for c in range(1, 6):
                shapes[f"body.{b}.rdb{r}.conv{c}"] = (NF if c == 5 else GC, NF + (c - 1) * GC)
    shapes |= {name: (NF, NF) for name in ("conv_body", "conv_up1", "conv_up2", "conv_hr")} | {"conv_last": (3, NF)}
    state = {}
    for name, shape in shapes.items():
        state[f"{name}.weight"], state[f"{name}.bias"] = conv(*shape)
    return state


def reference_rrdbnet(w: dict, x: torch.Tensor, scale: int) -> torch.Tensor:
    """ESRGAN's generator (Wang et al. 2018, Fig. 4; BasicSR's rrdbnet_arch.py) written functionally on `w`."""
    def conv(name, t):
        return F.conv2d(t, w[f"{name}.weight"], w[f"{name}.bias"], padding=1)

    def lrelu(t):
        return F.leaky_relu(t, 0.2)

    if scale < 4:
        x = F.pixel_unshuffle(x, 4 // scale)
    feat = conv("conv_first", x)
    body = feat
    for b in range(NB):
        block_in = body
        for r in (1, 2, 3):
            dense = [body]
            for c in range(1, 5):
                dense.append(lrelu(conv(f"body.{b}.rdb{r}.conv{c}", torch.cat(dense, 1))))
            body = conv(f"body.{b}.rdb{r}.conv5", torch.cat(dense, 1)) * 0.2 + dense[0]
        body = body * 0.2 + block_in
    feat = feat + conv("conv_body", body)
    feat = lrelu(conv("conv_up1", F.interpolate(feat, scale_factor=2, mode="nearest")))
    feat = lrelu(conv("conv_up2", F.interpolate(feat, scale_factor=2, mode="nearest")))
    return conv("conv_last", lrelu(conv("conv_hr", feat)))


def inference_config(tmp_path, scale: int, weights) -> str:
    """As BasicSR's options/test/ESRGAN/test_ESRGAN_x4.yml: the model type, the scale, network_g and its weights."""
    conf = tmp_path / f"test_x{scale}.yml"
    conf.write_text(yaml.safe_dump({
        "model_type": "ESRGANModel", "scale": scale,
        "network_g": {"type": "RRDBNet", "num_feat": NF, "num_block": NB, "num_grow_ch": GC},
        "path": {"pretrain_network_g": str(weights), "param_key_g": "params_ema"}}))
    return str(conf)


@pytest.mark.parametrize("scale", [2, 4])
def test_a_basicsr_checkpoint_loads_strictly_and_matches_a_reference_forward(tmp_path, scale):
    ema, live = basicsr_state(scale, seed=1), basicsr_state(scale, seed=2)
    weights = tmp_path / "net_g_basicsr.pth"  # as BasicSR saves a DDP-trained G
    torch.save({"params": {f"module.{k}": v for k, v in live.items()},
                "params_ema": {f"module.{k}": v for k, v in ema.items()}}, weights)
    model = load_for_inference(None, inference_config(tmp_path, scale, weights), device="cpu")
    x = torch.rand(1, 3, 12, 16, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected = reference_rrdbnet(ema, x, scale)
        assert torch.allclose(model.net_for_inference("g")(x), expected, atol=1e-5)
    assert torch.allclose(model.infer(x), expected.clamp(0, 1), atol=1e-5)
    assert model.infer(x).shape == (1, 3, 12 * scale, 16 * scale)
    torch.save({"params_ema": {**ema, "extra.weight": torch.zeros(1)}}, weights)
    with pytest.raises(UserError, match="weights do not fit network_g"):
        load_for_inference(None, inference_config(tmp_path, scale, weights), device="cpu")


def esrgan_layouts(state: dict) -> tuple[dict, dict]:
    """BasicSR weights under xinntao/ESRGAN's 2018 and 2019 key names, by its transer_RRDB_models.py's mapping."""
    top = {"conv_first": ("model.0", "conv_first"), "conv_body": (f"model.1.sub.{NB}", "trunk_conv"),
           "conv_up1": ("model.3", "upconv1"), "conv_up2": ("model.6", "upconv2"), "conv_hr": ("model.8", "HRconv"),
           "conv_last": ("model.10", "conv_last")}
    first, second = {}, {}
    for key, value in state.items():
        module, param = key.rsplit(".", 1)
        if module.startswith("body."):
            trunk = module.replace("body.", "RRDB_trunk.").replace(".rdb", ".RDB")
            first[f"{trunk.replace('RRDB_trunk.', 'model.1.sub.')}.0.{param}"] = value
            second[f"{trunk}.{param}"] = value
        else:
            first[f"{top[module][0]}.{param}"], second[f"{top[module][1]}.{param}"] = value, value
    return first, second


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_esrgans_older_key_layouts_load_through_the_converter_and_round_trip(tmp_path):
    net = RRDBNet(scale=4, num_feat=NF, num_block=NB, num_grow_ch=GC)
    state = net.state_dict()
    for layout, legacy in enumerate(esrgan_layouts(state)):
        converted = to_basicsr_keys(legacy)
        assert same(converted, state) and same(esrgan_layouts(converted)[layout], legacy)
        fresh = RRDBNet(scale=4, num_feat=NF, num_block=NB, num_grow_ch=GC)
        fresh.load_state_dict(legacy)  # strict
        assert same(fresh.state_dict(), state)
    assert same(to_basicsr_keys(state), state)  # BasicSR's own keys stay as they are
    torch.save({f"module.{k}": v for k, v in esrgan_layouts(state)[1].items()}, tmp_path / "RRDB_PSNR_x4.pth")
    model = load_for_inference(None, inference_config(tmp_path, 4, tmp_path / "RRDB_PSNR_x4.pth"), device="cpu")
    assert same(model.nets["g"].state_dict(), state)


@pytest.fixture
def psnr_and_gan(tiny_sr_config, tiny_esrgan_config, tmp_path):
    """Stage 1 (SRModel) and stage 2 (ESRGANModel from stage 1's weights), two iterations each."""
    sets = ["val.val_freq=null", "train.total_iter=2"]
    psnr = checkpoint.latest(train(load_options(tiny_sr_config, sets + [f"path.experiments_root={tmp_path / 'psnr'}"]))
                             / "checkpoints")
    gan = checkpoint.latest(train(load_options(tiny_esrgan_config, sets + [f"path.pretrain_network_g={psnr}"]))
                            / "checkpoints")
    return psnr, gan


def test_net_interp_blends_the_inference_weights_into_a_checkpoint_test_sr_runs(psnr_and_gan, main_in_process, tmp_path):
    from deflow.tools.test_sr import main as test_sr_main

    psnr, gan = psnr_and_gan
    theta_psnr, theta_gan = (checkpoint.load(p)["model"]["ema"]["g"] for p in (psnr, gan))  # both kept an EMA
    for alpha in (0.0, 0.8, 1.0):
        out = tmp_path / f"interp_{alpha}.pth"
        code, _, err = main_in_process(net_interp_main, "--psnr", psnr, "--gan", gan, "--alpha", alpha, "--out", out)
        assert code == 0, err
        mixed = checkpoint.load(out)["model"]["nets"]["g"]
        for key, value in mixed.items():
            assert torch.allclose(value, (1 - alpha) * theta_psnr[key] + alpha * theta_gan[key], atol=1e-7), key
    assert same(checkpoint.load(tmp_path / "interp_0.0.pth")["model"]["nets"]["g"], theta_psnr)
    model = load_for_inference(tmp_path / "interp_1.0.pth", device="cpu")
    assert same(model.net_for_inference("g").state_dict(), theta_gan)
    lr = torch.rand(3, 12, 16)
    write_image(tmp_path / "lr" / "x.png", lr)
    code, _, err = main_in_process(test_sr_main, "--model_path", tmp_path / "interp_0.8.pth", "--input", tmp_path / "lr",
                                   "--out", tmp_path / "sr", "--device", "cpu")
    assert code == 0, err
    assert (tmp_path / "sr" / "sr" / "x.png").is_file()


def test_net_interp_refuses_bad_input_in_one_line(psnr_and_gan, main_in_process, tmp_path):
    psnr, gan = psnr_and_gan
    other = tmp_path / "other.pth"
    torch.save({"params": RRDBNet(scale=2, num_feat=4, num_block=1, num_grow_ch=4).state_dict()}, other)
    for args, message in (((psnr, gan, "1.5"), "--alpha 1.5: expected a value in [0, 1]"),
                          ((tmp_path / "nowhere.pth", gan, "0.5"), "checkpoint not found"),
                          ((other, gan, "0.5"), "shape")):
        code, _, err = main_in_process(net_interp_main, "--psnr", args[0], "--gan", args[1], "--alpha", args[2],
                                       "--out", tmp_path / "x.pth")
        assert code == 2 and len(err.strip().splitlines()) == 1 and message in err, err
