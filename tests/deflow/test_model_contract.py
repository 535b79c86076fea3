"""The model contract through the trainer, with a two-stage toy (tests/deflow/toy_models.py): stages chosen per
iteration, one shared forward pass, the after-step hook, per-network schedules and pretraining, a non-finite second
stage that skips the whole iteration, and exact resume of all of it. Plus a classical model evaluated without a
checkpoint, a burst model, and inference from a config that holds only what inference needs."""
import csv

import pytest
import torch
import torch.nn.functional as F
import yaml

from deflow import checkpoint
from deflow.config import load_options
from deflow.errors import UserError
from deflow.imageio import read_image, write_image
from deflow.trainer import train
from tests.deflow.toy_models import EVENTS


def ckpt(root, iteration):
    return checkpoint.load(root / "checkpoints" / f"iter_{iteration:08d}.pth")


def tensors(tree, prefix=""):
    """Every tensor of a nested state, by path."""
    if torch.is_tensor(tree):
        return {prefix: tree}
    items = tree.items() if isinstance(tree, dict) else enumerate(tree) if isinstance(tree, (list, tuple)) else []
    out = {}
    for key, value in items:
        out |= tensors(value, f"{prefix}/{key}")
    return out


@pytest.fixture(autouse=True)
def _clear_events():
    EVENTS.update(forward=0, stages=[], after_step=[])


def test_stages_per_iteration_one_shared_forward_and_the_after_step_hook(toy_two_stage_config):
    root = train(load_options(toy_two_stage_config))
    # net_d_init_iters 2, net_d_iters 2: D alone at 1, 2, 3, 5, 7; G and D at 4, 6, 8
    assert EVENTS["stages"] == [("d",), ("d",), ("d",), ("g", "d"), ("d",), ("g", "d"), ("d",), ("g", "d")]
    assert EVENTS["forward"] == 8  # once per iteration, not once per stage
    assert EVENTS["after_step"] == list(range(1, 9))
    for it in range(1, 9):
        before, after = (ckpt(root, it - 1) if it > 1 else None), ckpt(root, it)
        if before is not None:
            g_moved = not torch.equal(before["model"]["nets"]["g"]["conv.weight"], after["model"]["nets"]["g"]["conv.weight"])
            d_moved = not torch.equal(before["model"]["nets"]["d"]["conv.weight"], after["model"]["nets"]["d"]["conv.weight"])
            assert g_moved == ("g" in EVENTS["stages"][it - 1]) and d_moved, it
    last = ckpt(root, 8)
    assert not torch.equal(last["model"]["queue"], torch.zeros(4))  # the hook's state reaches the checkpoint


def test_each_network_has_its_own_schedule(toy_two_stage_config):
    root = train(load_options(toy_two_stage_config))
    state = ckpt(root, 8)
    assert state["schedulers"]["g"]["_last_lr"][0] == pytest.approx(1e-2 * 0.5 ** 4)  # StepLR 2, 0.5 (train.scheduler)
    assert state["schedulers"]["d"]["_last_lr"][0] == pytest.approx(1e-2 * 0.9 ** 8)  # StepLR 1, 0.9 (scheduler_d)


def test_a_nonfinite_second_stage_skips_the_whole_iteration(toy_two_stage_config):
    root = train(load_options(toy_two_stage_config, ["train.nan_in_d_at=4"]))  # iteration 4 stages g, then d
    before, after = ckpt(root, 3), ckpt(root, 4)
    for part in ("model", "optimizers"):
        a, b = tensors(before[part]), tensors(after[part])
        assert a.keys() == b.keys()
        for path in a:
            assert torch.equal(a[path], b[path]), f"{part}{path} changed in the skipped iteration"
    assert after["nonfinite"] == 1 and 4 not in EVENTS["after_step"]
    assert not torch.equal(ckpt(root, 5)["model"]["nets"]["d"]["conv.weight"], after["model"]["nets"]["d"]["conv.weight"])


def test_each_network_can_start_from_pretrained_weights(toy_two_stage_config, tmp_path):
    source_root = train(load_options(toy_two_stage_config, ["train.total_iter=2"]))
    source = ckpt(source_root, 2)
    opt = load_options(toy_two_stage_config, [f"path.experiments_root={tmp_path / 'ft'}", "train.total_iter=1",
                                              f"path.pretrain_network_d={source_root / 'checkpoints/iter_00000002.pth'}",
                                              "train.optim_d.lr=0", "train.net_d_init_iters=0", "train.net_d_iters=1"])
    tuned = ckpt(train(opt), 1)
    assert torch.equal(tuned["model"]["nets"]["d"]["conv.weight"], source["model"]["nets"]["d"]["conv.weight"])
    assert not torch.equal(tuned["model"]["nets"]["g"]["conv.weight"], source["model"]["nets"]["g"]["conv.weight"])
    assert all(s["step"] == 1 for s in tuned["optimizers"]["d"]["state"].values())


def test_a_model_without_weights_is_evaluated_from_its_config_alone(main_in_process, tmp_path):
    import tests.deflow.toy_models  # noqa: F401
    from deflow.tools.sample_photos import photo
    from deflow.tools.test_sr import main

    noise = torch.Generator().manual_seed(1)
    for name in ("cat", "cup"):
        gt = (photo("chelsea") if name == "cat" else photo("coffee"))[:, :64, :64]
        write_image(tmp_path / "gt" / f"{name}.png", gt)
        lr = F.avg_pool2d(gt[None], 2)[0]
        for k in range(4):
            write_image(tmp_path / "bursts" / name / f"frame{k}.png",
                        (lr + 0.08 * torch.randn(lr.shape, generator=noise)).clamp(0, 1))
    conf = tmp_path / "burst.yml"
    conf.write_text(yaml.safe_dump({"model_type": "BurstMeanModel", "scale": 2,
                                    "network_g": {"type": "BurstMeanUpsampler"}}))
    code, out, err = main_in_process(main, "-opt", conf, "--input", tmp_path / "bursts", "--gt", tmp_path / "gt",
                                     "--out", tmp_path / "out", "--tile", "24")
    assert code == 0, err
    rows = {r["name"]: float(r["psnr"]) for r in csv.DictReader(open(tmp_path / "out" / "metrics.csv"))}
    assert read_image(tmp_path / "out" / "sr" / "cat.png").shape == (3, 64, 64)
    one_frame = F.interpolate(read_image(tmp_path / "bursts/cat/frame0.png")[None], scale_factor=2, mode="bicubic")
    gt = read_image(tmp_path / "gt" / "cat.png")[None]
    single_psnr = (10 * torch.log10(1 / ((one_frame.clamp(0, 1) - gt)[..., 2:-2, 2:-2] ** 2).mean())).item()
    assert rows["cat"] > single_psnr + 2  # four frames averaged: the burst was used, not one frame
    with pytest.raises(UserError, match="has nothing to train"):
        train(load_options(conf, ["name=b", "train.total_iter=1", "datasets.train.type=PairedImageDataset",
                                  f"datasets.train.dataroot_gt={tmp_path / 'gt'}",
                                  f"datasets.train.dataroot_lq={tmp_path / 'gt'}"]))


def test_inference_needs_only_model_type_scale_network_and_weights(main_in_process, tiny_sr_config, tmp_path):
    """A BasicSR test-option file: no datasets.train, no train section; weights as {params, params_ema}."""
    from deflow.tools.test_sr import main

    trained = ckpt(train(load_options(tiny_sr_config, ["train.total_iter=2", "val.val_freq=null"])), 2)
    weights = tmp_path / "net_g_basicsr.pth"
    torch.save({"params": trained["model"]["nets"]["g"]}, weights)
    net = yaml.safe_load(tiny_sr_config.read_text())["network_g"]
    conf = tmp_path / "test_opt.yml"
    conf.write_text(yaml.safe_dump({"name": "t", "model_type": "SRModel", "scale": 2, "network_g": net,
                                    "path": {"pretrain_network_g": str(weights)}}))
    lr = tmp_path.parent / tmp_path.name / "train" / "lq"
    code, _, err = main_in_process(main, "-opt", conf, "--input", lr, "--out", tmp_path / "o", "--device", "cpu")
    assert code == 0, err
    no_weights = tmp_path / "no_weights.yml"
    no_weights.write_text(yaml.safe_dump({"model_type": "SRModel", "scale": 2, "network_g": net}))
    code, _, err = main_in_process(main, "-opt", no_weights, "--input", lr, "--out", tmp_path / "o2")
    assert code == 2 and "has weights to load and none were given" in err and len(err.strip().splitlines()) == 1


def test_the_loss_scaler_updates_once_per_iteration_and_an_overflow_skips_every_network(toy_two_stage_config):
    """AMP's path, on the CPU with an enabled GradScaler: one update per iteration however many stages; a gradient
    overflow in any stage steps no network and lowers the scale (it is the scaler's event, not a non-finite loss)."""
    from deflow.trainer import train_step
    from deflow.training_state import build_training

    cpu = torch.device("cpu")
    opt = load_options(toy_two_stage_config, ["train.net_d_init_iters=0", "train.net_d_iters=1"])
    t = build_training(opt, cpu, world=1, amp=None)
    updates = []

    class CountingScaler(torch.amp.GradScaler):
        def update(self, new_scale=None):
            updates.append(self.get_scale())
            super().update(new_scale)

    batch = {"lq": torch.rand(2, 3, 16, 16), "gt": torch.rand(2, 3, 16, 16)}
    t.scaler = CountingScaler("cpu", init_scale=2.0 ** 8)
    losses, bad = train_step(t, batch, None, None, 1, cpu)
    assert bad is None and set(losses) == {"l_pix", "l_gan", "l_d"} and updates == [2.0 ** 8]

    t.scaler = CountingScaler("cpu", init_scale=3.0e38)  # with inputs of 1e6, scaled gradients overflow float32
    batch = {"lq": 1e6 * batch["lq"], "gt": batch["gt"]}
    before = {name: {k: v.clone() for k, v in net.state_dict().items()} for name, net in t.model.nets.items()}
    steps = {name: [s["step"].clone() for s in o.state_dict()["state"].values()] for name, o in t.optimizers.items()}
    losses, bad = train_step(t, batch, None, None, 1, cpu)
    assert losses == {} and bad is None and len(updates) == 2 and t.scaler.get_scale() < updates[1]
    for name, net in t.model.nets.items():
        assert all(torch.equal(v, before[name][k]) for k, v in net.state_dict().items()), name
        assert [s["step"] for s in t.optimizers[name].state_dict()["state"].values()] == steps[name]
