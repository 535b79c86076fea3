"""The trainer: exact resume, atomic checkpoints, the non-finite guard, best checkpoints, DDP equivalence."""
import os
import re

import pytest
import torch
import yaml

from deflow import checkpoint
from deflow.config import load_options
from deflow.errors import UserError
from deflow.trainer import train


def final_weights(root):
    state = checkpoint.load(checkpoint.latest(root / "checkpoints"))
    return state


def test_resume_continues_exactly(tiny_sr_config, tmp_path):
    """2N iterations in one run == N iterations, stop, resume to 2N: identical weights, EMA and optimizer."""
    straight = load_options(tiny_sr_config, [f"path.experiments_root={tmp_path / 'straight'}"])
    train(straight)
    split = load_options(tiny_sr_config, [f"path.experiments_root={tmp_path / 'split'}", "train.total_iter=4"])
    train(split)
    resumed = load_options(tiny_sr_config, [f"path.experiments_root={tmp_path / 'split'}"])
    train(resumed, resume="auto")

    a, b = final_weights(tmp_path / "straight"), final_weights(tmp_path / "split")
    assert a["iteration"] == b["iteration"] == 8
    for name, tensor in a["model"]["nets"]["g"].items():
        assert torch.equal(tensor, b["model"]["nets"]["g"][name]), name
    for name, tensor in a["model"]["ema"]["g"].items():
        assert torch.equal(tensor, b["model"]["ema"]["g"][name]), name
    exp_avg = [s["exp_avg"] for s in a["optimizers"]["g"]["state"].values()]
    assert all(torch.equal(x, s["exp_avg"]) for x, s in zip(exp_avg, b["optimizers"]["g"]["state"].values()))
    assert a["schedulers"]["g"]["last_epoch"] == b["schedulers"]["g"]["last_epoch"]


def test_resume_depends_on_the_saved_data_position(tiny_sr_config, tmp_path):
    """The exact-resume test can fail for the reason it guards: resuming with the checkpoint's data position
    reset to 0 (the first batches again) ends with other weights."""
    straight = load_options(tiny_sr_config, [f"path.experiments_root={tmp_path / 'a'}"])
    train(straight)
    train(load_options(tiny_sr_config, [f"path.experiments_root={tmp_path / 'b'}", "train.total_iter=4"]))
    path = tmp_path / "b" / "checkpoints" / "iter_00000004.pth"
    state = checkpoint.load(path)
    assert state["sampler_position"] == 8  # 4 iterations x batch 2
    state["sampler_position"] = 0
    checkpoint.save_atomic(state, path)
    train(load_options(tiny_sr_config, [f"path.experiments_root={tmp_path / 'b'}"]), resume="auto")
    a, b = final_weights(tmp_path / "a"), final_weights(tmp_path / "b")
    assert not torch.equal(a["model"]["nets"]["g"]["conv_first.weight"], b["model"]["nets"]["g"]["conv_first.weight"])


def test_checkpoint_contents_and_folder(tiny_sr_config):
    opt = load_options(tiny_sr_config)
    root = train(opt)
    files = sorted(p.name for p in (root / "checkpoints").iterdir())
    assert files == ["best_psnr.pth", "iter_00000004.pth", "iter_00000008.pth"]
    state = checkpoint.load(root / "checkpoints" / "iter_00000008.pth")
    assert {"model", "optimizers", "schedulers", "scaler", "rng", "best", "options", "sampler_position",
            "iteration", "epoch"} <= set(state)
    assert state["sampler_position"] == 16 and state["epoch"] == 4  # 8 iterations x batch 2 over 4 images
    assert yaml.safe_load((root / "options.yml").read_text())["network_g"]["scale"] == 2
    assert "psnr" in state["best"] and (root / "train.log").read_text().count("validation val") == 2


def test_keep_last_prunes_old_periodic_checkpoints(tiny_sr_config):
    root = train(load_options(tiny_sr_config, ["logger.save_checkpoint_freq=2", "logger.keep_last=2",
                                               "val.val_freq=null"]))
    assert sorted(p.name for p in (root / "checkpoints").iterdir()) == ["iter_00000006.pth", "iter_00000008.pth"]


def test_interrupted_checkpoint_write_leaves_previous_file_loadable(tmp_path):
    path = tmp_path / "iter_00000001.pth"
    checkpoint.save_atomic({"iteration": 1, "w": torch.ones(3)}, path)

    class ExplodesWhilePickled:
        def __reduce_ex__(self, protocol):
            raise KeyboardInterrupt  # as if the process were stopped in the middle of writing

    with pytest.raises(KeyboardInterrupt):
        checkpoint.save_atomic({"iteration": 2, "w": torch.zeros(10_000), "x": ExplodesWhilePickled()}, path)
    assert checkpoint.load(path)["iteration"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["iter_00000001.pth"]  # no temporary file left behind


def test_truncated_checkpoint_is_a_user_error(tmp_path):
    path = tmp_path / "x.pth"
    checkpoint.save_atomic({"w": torch.ones(1000)}, path)
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(UserError, match="not a readable checkpoint"):
        checkpoint.load(path)


def test_nonfinite_guard_skips_names_and_stops(tiny_sr_config, monkeypatch, caplog):
    from sr.pixel.model import SRModel

    real_losses = SRModel.losses
    calls = {"n": 0}

    def losses_nan_after_5(self, batch, shared, stage):
        calls["n"] += 1
        out = real_losses(self, batch, shared, stage)
        return {k: v * float("nan") for k, v in out.items()} if calls["n"] > 5 else out

    monkeypatch.setattr(SRModel, "losses", losses_nan_after_5)
    opt = load_options(tiny_sr_config, ["train.total_iter=50", "train.max_nonfinite=3", "val.val_freq=null"])
    with pytest.raises(UserError) as err:
        train(opt)
    message = str(err.value)
    assert "training stopped at iteration 8: 3 consecutive non-finite values (last: loss l_pix)" in message
    last_good = re.search(r"last good checkpoint: (\S+);", message).group(1)
    state = checkpoint.load(last_good)
    assert state["iteration"] == 4 and all(torch.isfinite(t).all() for t in state["model"]["nets"]["g"].values())
    log = (opt_root := os.path.dirname(os.path.dirname(last_good))) and open(os.path.join(opt_root, "train.log")).read()
    assert log.count("non-finite loss l_pix, step skipped") == 3


def test_skipped_step_leaves_weights_untouched(tiny_sr_config, monkeypatch):
    from sr.pixel.model import SRModel

    real_losses = SRModel.losses
    monkeypatch.setattr(SRModel, "losses", lambda self, b, sh, s: {k: v * float("inf") for k, v in real_losses(self, b, sh, s).items()})
    opt = load_options(tiny_sr_config, ["train.total_iter=2", "train.max_nonfinite=5", "val.val_freq=null",
                                        "train.ema_decay=0", "logger.save_checkpoint_freq=1"])
    torch.manual_seed(opt["manual_seed"])
    root = train(opt)
    first, second = (checkpoint.load(root / "checkpoints" / f"iter_0000000{i}.pth") for i in (1, 2))
    assert all(torch.equal(first["model"]["nets"]["g"][k], v) for k, v in second["model"]["nets"]["g"].items())
    assert second["nonfinite"] == 2


def test_resume_refuses_a_checkpoint_of_another_scale(tiny_sr_config, tmp_path):
    root = train(load_options(tiny_sr_config, ["train.total_iter=2", "val.val_freq=null"]))
    opt = load_options(tiny_sr_config, ["train.total_iter=4", "val.val_freq=null", "network_g.num_feat=16"])
    with pytest.raises(UserError, match="was trained with network_g"):
        train(opt, resume=str(checkpoint.latest(root / "checkpoints")))


def test_pretrain_loads_the_weights_with_a_fresh_optimizer(tiny_sr_config, tmp_path):
    root = train(load_options(tiny_sr_config, ["train.total_iter=2", "val.val_freq=null", "train.ema_decay=0"]))
    weights = checkpoint.latest(root / "checkpoints")
    source = checkpoint.load(weights)
    assert all(s["step"] == 2 for s in source["optimizers"]["g"]["state"].values())
    # lr 0: the one iteration leaves the weights as loaded, so they must equal the source's
    opt = load_options(tiny_sr_config, [f"path.experiments_root={tmp_path / 'ft'}", "train.total_iter=1",
                                        f"path.pretrain_network_g={weights}", "val.val_freq=null", "train.optim_g.lr=0",
                                        "train.warmup_iter=0", "train.ema_decay=0"])
    tuned = checkpoint.load(checkpoint.latest(train(opt) / "checkpoints"))
    for name, tensor in source["model"]["nets"]["g"].items():
        assert torch.equal(tensor, tuned["model"]["nets"]["g"][name]), name
    assert all(s["step"] == 1 for s in tuned["optimizers"]["g"]["state"].values())  # fresh: one step, not three
    assert tuned["schedulers"]["g"]["last_epoch"] == 1
    bad = load_options(tiny_sr_config, [f"path.experiments_root={tmp_path / 'ft2'}", "network_g.num_feat=16",
                                         f"path.pretrain_network_g={weights}", "val.val_freq=null"])
    with pytest.raises(UserError, match="weights do not fit network_g"):
        train(bad)


def test_two_process_ddp_matches_one_process_with_the_same_global_batch(cli, tiny_sr_config, tmp_path):
    common = ["--set", "train.total_iter=4", "--set", "val.val_freq=2", "--set", "train.ema_decay=0",
              "--set", "logger.print_freq=4"]
    one = cli("-m", "deflow.train", "-opt", str(tiny_sr_config), *common,
              "--set", f"path.experiments_root={tmp_path / 'one'}", "--set", "datasets.train.batch_size_per_gpu=4")
    assert one.returncode == 0, one.stderr
    env = dict(os.environ, OMP_NUM_THREADS="1")
    two = cli("-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29533", "-m", "deflow.train",
              "-opt", str(tiny_sr_config), *common, "--set", f"path.experiments_root={tmp_path / 'two'}",
              "--set", "datasets.train.batch_size_per_gpu=2", env=env)
    assert two.returncode == 0, two.stderr[-3000:]
    loss = [float(re.findall(r"iter 4 .*l_pix (\S+)", (tmp_path / r / "train.log").read_text())[0]) for r in ("one", "two")]
    assert abs(loss[0] - loss[1]) < 1e-5, loss
    a, b = (checkpoint.load(tmp_path / r / "checkpoints" / "iter_00000004.pth")["model"]["nets"]["g"] for r in ("one", "two"))
    assert max((a[k] - b[k]).abs().max().item() for k in a) < 1e-5
    assert "1 process(es)" in (tmp_path / "one" / "train.log").read_text()
    assert "2 process(es)" in (tmp_path / "two" / "train.log").read_text()


def test_warmup_then_cosine_restarts_by_name():
    from deflow.optim import build_scheduler

    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=1.0)
    scheduler = build_scheduler({"warmup_iter": 2, "scheduler": {"type": "CosineAnnealingWarmRestarts", "T_0": 4,
                                                                 "eta_min": 0.0}}, optimizer)
    lrs = []
    for _ in range(8):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    import math
    cosine = [0.5 * (1 + math.cos(math.pi * (t % 4) / 4)) for t in range(6)]
    assert lrs == pytest.approx([0.5, 1.0] + cosine)  # linear warm-up from lr/2, then restarts every 4


def test_ema_averages_parameters_and_buffers():
    from deflow.models.base import EMA

    net = torch.nn.BatchNorm1d(2)
    ema = EMA(decay=0.5)
    for _ in range(10):  # the first update copies; then the warm-up decay n / (n + 9) passes 0.5 at n = 10
        ema.update(net)
    with torch.no_grad():
        net.weight.fill_(3.0)
        net.running_mean.fill_(4.0)
    net.num_batches_tracked.fill_(7)
    ema.update(net)
    assert torch.allclose(ema.net.weight, torch.full((2,), 2.0))        # 0.5 * 1 + 0.5 * 3
    assert torch.allclose(ema.net.running_mean, torch.full((2,), 2.0))  # buffers too: 0.5 * 0 + 0.5 * 4
    assert int(ema.net.num_batches_tracked) == 7                        # integer buffers are copied


def test_ema_decay_warms_up():
    from deflow.models.base import EMA

    net = torch.nn.Linear(1, 1, bias=False)
    ema = EMA(decay=0.999)
    with torch.no_grad():
        net.weight.fill_(0.0)
        ema.update(net)
        net.weight.fill_(1.0)
        ema.update(net)  # n = 2: decay 2 / 11, not 0.999
    assert ema.net.weight.item() == pytest.approx(1 - 2 / 11)


def test_tensorboard_and_gradient_clipping(tiny_sr_config, monkeypatch):
    norms = []
    real_clip = torch.nn.utils.clip_grad_norm_

    def spy(params, max_norm, *args, **kwargs):
        norms.append(max_norm)
        return real_clip(params, max_norm, *args, **kwargs)

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", spy)
    root = train(load_options(tiny_sr_config, ["logger.use_tb_logger=true", "train.grad_clip=0.01",
                                               "train.total_iter=4"]))
    assert norms == [0.01] * 4
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    events = EventAccumulator(str(root / "tb"), size_guidance={"images": 0}).Reload()
    assert {"losses/l_pix", "lr", "metrics/val/psnr"} <= set(events.Tags()["scalars"])
    assert any(tag.startswith("images/0/") for tag in events.Tags()["images"])


@pytest.mark.parametrize("config", ["tiny_sr_config", "tiny_deflow_config"])
def test_channels_last_trains_the_same_model_and_resumes_exactly(config, request, tmp_path, monkeypatch):
    """train.channels_last: the batches' images and the 4-D weights are NHWC while training; the weights end where the
    default layout's do (to far less than training moves them), and resume is exact in that layout too."""
    from deflow.models.base import BaseModel

    path = request.getfixturevalue(config)
    total = load_options(path)["train"]["total_iter"]
    base = ["val.val_freq=null", f"logger.save_checkpoint_freq={total // 2}"]
    layouts = []
    real_to_device = BaseModel.to_device

    def to_device(self, batch):
        moved = real_to_device(self, batch)
        weights = [p for p in self.nets.parameters() if p.dim() == 4]
        layouts.append({"images": all(v.is_contiguous(memory_format=torch.channels_last)
                                      for v in moved.values() if torch.is_tensor(v) and v.dim() == 4),
                        "weights": all(w.is_contiguous(memory_format=torch.channels_last) for w in weights)})
        return moved

    monkeypatch.setattr(BaseModel, "to_device", to_device)
    train(load_options(path, [*base, f"path.experiments_root={tmp_path / 'default'}"]))
    assert layouts and not any(seen["images"] or seen["weights"] for seen in layouts)  # 3-channel NCHW batches
    layouts.clear()
    nhwc = [*base, "train.channels_last=true"]
    train(load_options(path, [*nhwc, f"path.experiments_root={tmp_path / 'straight'}"]))
    assert layouts and all(seen["images"] and seen["weights"] for seen in layouts)
    final, half = (f"checkpoints/iter_{i:08d}.pth" for i in (total, total // 2))

    def flat(run: str, file: str) -> torch.Tensor:
        nets = checkpoint.load(tmp_path / run / file)["model"]["nets"]
        return torch.cat([t.flatten() for weights in nets.values() for t in weights.values() if t.is_floating_point()])

    default, straight = flat("default", final), flat("straight", final)
    moved = (default - flat("default", half)).norm()  # what the second half of training changed
    assert moved > 0 and (straight - default).norm() < 0.02 * moved  # Adam turns rounding into steps of ~lr
    train(load_options(path, [*nhwc, f"path.experiments_root={tmp_path / 'split'}", f"train.total_iter={total // 2}"]))
    train(load_options(path, [*nhwc, f"path.experiments_root={tmp_path / 'split'}"]), resume="auto")
    from tests.conftest import checkpoint_differences

    assert not checkpoint_differences(tmp_path / "straight" / final, tmp_path / "split" / final)
