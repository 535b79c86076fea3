"""The learned h: a denoising autoencoder trained through the trainer at scale 1, then frozen inside DeFlow's h."""
import pytest
import torch
import yaml

from deflow import checkpoint
from deflow.config import load_options
from deflow.errors import UserError
from deflow.flow.h import DenoisingAutoencoder, build_h
from deflow.flow.h.noise import bicubic_down
from deflow.imageio import read_image, write_image
from deflow.tools.sample_photos import photo
from deflow.trainer import train

NOISE = 0.08


@pytest.fixture(scope="module")
def trained_dae(tmp_path_factory):
    """A width-8 DAE after 60 iterations on 48 px crops of two photos with Gaussian noise of std 0.08."""
    root = tmp_path_factory.mktemp("dae")
    for i, name in enumerate(("astronaut", "coffee")):
        img = photo(name)[:, :96, :96]
        write_image(root / "gt" / f"{name}.png", img)
        noisy = img + NOISE * torch.randn(img.shape, generator=torch.Generator().manual_seed(i))
        write_image(root / "lq" / f"{name}.png", noisy.clamp(0, 1))
    opt = yaml.safe_load(open("confs/cpu/dae-h.yml"))
    opt["datasets"]["train"].update(dataroot_gt=str(root / "gt"), dataroot_lq=str(root / "lq"), gt_size=48,
                                    batch_size_per_gpu=4)
    opt["network_g"]["width"] = 8
    opt["train"].update(total_iter=60, warmup_iter=0, scheduler={"type": "MultiStepLR", "milestones": [50]})
    opt["logger"] = {"print_freq": 20, "save_checkpoint_freq": 30, "use_tb_logger": False}
    opt["path"] = {"experiments_root": str(root / "exp")}
    (root / "dae.yml").write_text(yaml.safe_dump(opt))
    train(load_options(root / "dae.yml"))
    return root, checkpoint.latest(root / "exp" / "checkpoints")


def test_the_dae_h_is_bicubic_of_the_frozen_autoencoder_and_training_taught_it(trained_dae):
    """downsample = bicubic_down(clamp(DAE(x))) with the checkpoint's EMA weights loaded by hand into a fresh
    network; and the trained DAE is closer to the clean image than the one after 30 iterations."""
    root, ckpt = trained_dae
    h = build_h({"type": "dae", "weights": str(ckpt), "device": "cpu"}, 4)
    noisy = read_image(root / "lq" / "coffee.png")[None]
    state = checkpoint.load(ckpt)["model"]
    net = DenoisingAutoencoder(width=8)
    net.load_state_dict(state["ema"]["g"])  # SRModel keeps an EMA (ema_decay 0.999), inference uses it
    with torch.no_grad():
        expected = bicubic_down(net.eval()(noisy).clamp(0, 1), 4)
    assert torch.allclose(h.downsample(noisy), expected, atol=1e-6)
    assert torch.equal(h.downsample(noisy)[0], h.downsample(noisy[0]))  # one (C, H, W) image, as create_dataset

    clean = read_image(root / "gt" / "coffee.png")[None]
    early = build_h({"type": "dae", "weights": str(ckpt.with_name("iter_00000030.pth")), "device": "cpu"}, 4)
    errors = [(f.dae.infer(noisy) - clean).abs().mean().item() for f in (early, h)]
    assert errors[1] < errors[0], errors


def test_a_deflow_net_conditions_on_the_dae_h(trained_dae):
    from deflow.flow import DeFlowNet

    _, ckpt = trained_dae
    net = DeFlowNet(L=2, K=1, hidden_channels=8, cond_nf=8, cond_nb=1, cond_gc=4, scale=4,
                    h={"type": "dae", "weights": str(ckpt), "device": "cpu"})
    x = photo("chelsea")[None, :, :32, :32]
    lq = net.h.downsample(x)
    assert lq.shape == (1, 3, 8, 8)
    assert torch.isfinite(net.nll(x, lq, 1).bits_per_dim).all()


def test_a_missing_or_wrong_dae_file_is_one_clear_error(trained_dae, tiny_sr_config):
    with pytest.raises(UserError, match="nope.pth: file not found; train the DAE first"):
        build_h({"type": "dae", "weights": "nope.pth"}, 4)
    train(load_options(tiny_sr_config))  # an x2 RRDBNet
    sr = checkpoint.latest(tiny_sr_config.parent / "exp" / "checkpoints")
    with pytest.raises(UserError, match="is a x2 model; the dae h needs one trained at scale 1"):
        build_h({"type": "dae", "weights": str(sr), "device": "cpu"}, 4)
