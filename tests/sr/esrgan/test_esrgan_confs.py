"""The ESRGAN configs carry the published settings: the DeFlow paper's ESRGAN (volflow/DeFlow ESRGAN_confs), BasicSR's
two stages (051 PSNR, 052 GAN), the x2 pair, and the CPU pair whose GAN stage starts from the PSNR stage's end."""
from pathlib import Path

from deflow.config import load_options

CONFS = Path(__file__).resolve().parents[3] / "confs"


def test_the_deflow_paper_esrgan_settings():
    for name in ("ESRGAN-DeFlow-AIM-x4", "ESRGAN-DeFlow-NTIRE-x4", "ESRGAN-DeFlow-x2"):
        opt = load_options(CONFS / "paper" / f"{name}.yml")
        train = opt["train"]
        assert opt["model_type"] == "ESRGANModel" and opt["scale"] == (2 if name.endswith("x2") else 4)
        assert train["total_iter"] == 60000 and train["scheduler"]["milestones"] == [5000, 10000, 20000, 30000]
        assert train["scheduler"]["gamma"] == 0.5
        for net in ("g", "d"):
            assert train[f"optim_{net}"]["lr"] == 1e-4 and train[f"optim_{net}"]["betas"] == [0.9, 0.999]
        assert train["pixel_opt"]["loss_weight"] == 1e-2 and train["gan_opt"]["loss_weight"] == 5e-3
        assert train["perceptual_opt"]["layer_weights"] == {"conv5_4": 1.0}
        assert train["perceptual_opt"]["perceptual_weight"] == 1.0 and train["gan_opt"]["gan_type"] == "ragan"
        d = opt["network_d"]
        assert (d["type"], d["num_feat"], d["input_size"]) == ("VGGStyleDiscriminator", 64, 128)
        assert opt["datasets"]["train"]["gt_size"] == 128 and opt["datasets"]["train"]["batch_size_per_gpu"] == 16
        assert (opt["network_g"]["num_feat"], opt["network_g"]["num_block"], opt["network_g"]["num_grow_ch"]) == (64, 23, 32)


def test_basicsrs_two_stages():
    psnr, gan = (load_options(CONFS / "paper" / f"{n}.yml") for n in ("RRDBNet-PSNR-x4", "ESRGAN-x4"))
    assert psnr["model_type"] == "SRModel" and psnr["train"]["total_iter"] == 1_000_000
    assert psnr["train"]["optim_g"]["lr"] == 2e-4 and psnr["train"]["pixel_opt"]["loss_weight"] == 1.0
    assert psnr["train"]["scheduler"]["T_0"] == 250_000 and psnr["train"]["scheduler"]["eta_min"] == 1e-7
    assert gan["train"]["total_iter"] == 400_000 and gan["train"]["ema_decay"] == 0.999
    assert gan["train"]["scheduler"]["milestones"] == [50000, 100000, 200000, 300000]
    assert gan["train"]["optim_g"]["betas"] == gan["train"]["optim_d"]["betas"] == [0.9, 0.99]
    assert gan["path"]["pretrain_network_g"] == "experiments/RRDBNet-PSNR-x4/checkpoints/iter_01000000.pth"
    x2 = load_options(CONFS / "paper" / "ESRGAN-DeFlow-x2.yml")
    assert x2["path"]["pretrain_network_g"].startswith(f"experiments/{load_options(CONFS / 'paper' / 'RRDBNet-PSNR-DeFlow-x2.yml')['name']}/")


def test_the_cpu_pair_chains_its_stages_without_a_perceptual_loss():
    psnr, gan = (load_options(CONFS / "cpu" / f"esrgan-tiny-x2-{n}.yml") for n in ("psnr", "gan"))
    assert psnr["model_type"] == "SRModel" and gan["model_type"] == "ESRGANModel"
    assert gan["network_g"] == psnr["network_g"] and gan["train"]["perceptual_opt"] is None
    assert gan["path"]["pretrain_network_g"] == (f"experiments/{psnr['name']}/checkpoints/"
                                                 f"iter_{psnr['train']['total_iter']:08d}.pth")
    assert gan["datasets"]["train"]["gt_size"] == gan["network_d"]["input_size"] == 128
