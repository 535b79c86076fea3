"""ESRGANModel through the trainer's own step: G's output once per iteration, G's loss reaching G alone, D stepping
every iteration and alone during net_d_init_iters, every term logged; one-line errors before training for a crop
VGG-D cannot judge and for a perceptual loss without VGG weights (which inference never needs); x2 and x4 outputs."""
import os

import pytest
import torch

from deflow import checkpoint
from deflow.config import load_options
from deflow.errors import UserError
from deflow.registry import MODELS
from deflow.train import main as train_main
from deflow.trainer import train, train_step
from deflow.training_state import build_training

CPU = torch.device("cpu")


def batch_of(opt: dict, seed: int = 0) -> dict:
    """A batch of random crops the size the config trains on."""
    size, scale = opt["datasets"]["train"]["gt_size"], opt["scale"]
    generator = torch.Generator().manual_seed(seed)
    return {"gt": torch.rand(2, 3, size, size, generator=generator),
            "lq": torch.rand(2, 3, size // scale, size // scale, generator=generator)}


def step(t, opt, seed: int = 0) -> dict:
    losses, bad = train_step(t, batch_of(opt, seed), None, None, 1, CPU)
    assert bad is None
    t.iteration += 1
    return losses


def weights(t, name: str) -> dict:
    return {k: v.clone() for k, v in t.model.nets[name].state_dict().items()}


def changed(before: dict, after: dict) -> bool:
    return any(not torch.equal(before[k], after[k]) for k in before if before[k].is_floating_point())


def test_one_gan_iteration_moves_g_and_d_and_gs_loss_gives_d_no_gradient(vgg_esrgan_config):
    opt = load_options(vgg_esrgan_config)
    t = build_training(opt, CPU, world=1, amp=None)
    model, seen = t.model, {}
    own_losses = model.losses

    def losses(batch, shared, stage):
        if stage == "d":  # G's loss has been back-propagated by now
            seen["d_grads"] = [p.grad for p in model.nets["d"].parameters()]
            seen["g_grads"] = [p.grad for p in model.nets["g"].parameters()]
        return own_losses(batch, shared, stage)

    model.losses = losses
    g, d = weights(t, "g"), weights(t, "d")
    logged = step(t, opt)
    assert model.stages(1) == ("g", "d")
    assert all(grad is None for grad in seen["d_grads"])
    assert all(grad is not None and grad.abs().sum() > 0 for grad in seen["g_grads"])
    assert changed(g, weights(t, "g")) and changed(d, weights(t, "d"))
    assert set(logged) == {"l_pix", "l_gan", "l_d_real", "l_d_fake", "out_d_real", "out_d_fake"}
    assert list(model.losses(batch_of(opt), model.forward_train(batch_of(opt)), "d")) == ["l_d_real", "l_d_fake"]


def test_gs_forward_runs_once_per_iteration(tiny_esrgan_config):
    opt = load_options(tiny_esrgan_config)  # net_d_init_iters 1: D alone at iteration 1, G and D after
    t = build_training(opt, CPU, world=1, amp=None)
    calls = []
    t.model.nets["g"].register_forward_hook(lambda *args: calls.append(t.iteration))
    for _ in range(3):
        step(t, opt)
    assert calls == [0, 1, 2]


def test_net_d_init_iters_steps_only_d_then_net_d_iters_sets_gs_pace(tiny_esrgan_config):
    opt = load_options(tiny_esrgan_config, ["train.net_d_init_iters=2", "train.net_d_iters=2"])
    t = build_training(opt, CPU, world=1, amp=None)
    g_moved, d_moved = [], []
    for iteration in range(1, 7):
        g, d = weights(t, "g"), weights(t, "d")
        logged = step(t, opt, seed=iteration)
        g_moved.append(changed(g, weights(t, "g")))
        d_moved.append(changed(d, weights(t, "d")))
        assert ("l_gan" in logged) == g_moved[-1]
    assert g_moved == [False, False, False, True, False, True] and all(d_moved)
    assert all(state["step"].item() == 2 for state in t.optimizers["g"].state_dict()["state"].values())


def test_a_run_logs_every_term_and_its_checkpoint_holds_both_networks(tiny_esrgan_config):
    root = train(load_options(tiny_esrgan_config, ["val.val_freq=null", "train.total_iter=4"]))
    log = (root / "train.log").read_text()
    for term in ("l_pix", "l_gan", "l_d_real", "l_d_fake", "out_d_real", "out_d_fake"):
        assert f" {term} " in log, term
    state = checkpoint.load(checkpoint.latest(root / "checkpoints"))
    assert set(state["model"]["nets"]) == {"g", "d"} and set(state["model"]["ema"]) == {"g"}
    assert set(state["optimizers"]) == set(state["schedulers"]) == {"g", "d"}


def test_a_crop_the_vgg_discriminator_cannot_judge_is_one_line_before_training(vgg_esrgan_config, main_in_process):
    code, _, err = main_in_process(train_main, "-opt", vgg_esrgan_config, "--set", "datasets.train.gt_size=64")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "datasets.train.gt_size is 64" in err and "judges 128x128 crops only" in err
    assert not (vgg_esrgan_config.parent / "vgg_exp" / "checkpoints").exists()


def test_missing_vgg_weights_with_a_perceptual_loss_end_in_one_line_exit_2(vgg_esrgan_config, cli, tmp_path):
    env = {**os.environ, "TORCH_HOME": str(tmp_path / "no_torch_cache"), "OMP_NUM_THREADS": "1"}
    result = cli("-m", "deflow.train", "-opt", str(vgg_esrgan_config), "--set",
                 "train.perceptual_opt={type: PerceptualLoss, layer_weights: {conv5_4: 1.0}, perceptual_weight: 1.0}",
                 env=env)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: perceptual loss: no VGG19 ImageNet weights")
    assert "train.perceptual_opt.vgg_weights" in lines[0]


def test_a_model_trained_with_a_perceptual_loss_runs_inference_without_vgg_weights(vgg_esrgan_config, monkeypatch,
                                                                                   tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "no_torch_cache"))
    opt = load_options(vgg_esrgan_config, ["train.perceptual_opt={type: PerceptualLoss}"])
    model = MODELS.get("ESRGANModel")(opt, CPU)
    assert model.infer(torch.rand(1, 3, 8, 8)).shape == (1, 3, 16, 16)
    with pytest.raises(UserError, match="no VGG19 ImageNet weights"):
        build_training(opt, CPU, world=1, amp=None)


@pytest.mark.parametrize("scale", [2, 4])
def test_outputs_are_scale_times_the_input(tiny_esrgan_config, scale):
    model = MODELS.get("ESRGANModel")(load_options(tiny_esrgan_config, [f"scale={scale}"]), CPU)
    assert model.infer(torch.rand(1, 3, 13, 18)).shape == (1, 3, 13 * scale, 18 * scale)
    lq = torch.rand(2, 3, 8, 12)
    assert model.forward_train({"lq": lq})["sr"].shape == (2, 3, 8 * scale, 12 * scale)
