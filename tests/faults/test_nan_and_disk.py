"""NaN injected into a loss at chosen steps, and a disk that refuses a checkpoint: the run names what happened in the
log or in one line, and the last good checkpoint stays loadable and unchanged."""
import errno
import os
import re
import subprocess
from pathlib import Path

import pytest
import torch

from deflow import checkpoint
from deflow.bench.observed_training import injected_nonfinite
from deflow.config import load_options
from deflow.errors import UserError
from deflow.registry import MODELS, load_plugins
from deflow.train import main as train_main
from deflow.trainer import train
from tests.faults.checks import assert_one_line_error
from tests.faults.record import record

CONFIGS = {"SRModel": "tiny_sr_config", "ESRGANModel": "tiny_esrgan_config", "DeFlowModel": "tiny_deflow_config"}
RUN = ["val.val_freq=null", "logger.save_checkpoint_freq=1", "logger.keep_last=100", "train.max_nonfinite=3"]


def model_class(model_type: str) -> type:
    load_plugins()
    return MODELS.get(model_type)


def root_of(config):
    return Path(load_options(config)["path"]["experiments_root"])


def finite(state: dict) -> bool:
    return all(torch.isfinite(v).all() for v in state["model"]["nets"]["g"].values() if v.is_floating_point())


@pytest.mark.parametrize("model_type", sorted(CONFIGS))
def test_nan_at_chosen_steps_is_skipped_and_named(model_type, request):
    config = request.getfixturevalue(CONFIGS[model_type])
    with injected_nonfinite({3, 5}, model=model_class(model_type)):
        root = train(load_options(config, [*RUN, "train.total_iter=6"]))
    log = (root / "train.log").read_text()
    skipped = sorted(int(i) for i in re.findall(r"iteration (\d+): non-finite loss \S+, step skipped", log))
    state = checkpoint.load(root / "checkpoints" / "iter_00000006.pth")
    assert skipped == [3, 5] and finite(state) and state["nonfinite"] == 0
    before, after = (checkpoint.load(root / "checkpoints" / f"iter_0000000{i}.pth") for i in (2, 3))
    assert all(torch.equal(before["model"]["nets"]["g"][k], v) for k, v in after["model"]["nets"]["g"].items())
    record("NaN injection", model_type=model_type, case="NaN at steps 3 and 5", outcome="both skipped and named")


@pytest.mark.parametrize("model_type", sorted(CONFIGS))
def test_repeated_nan_stops_with_the_last_good_checkpoint_loadable(model_type, request):
    config = request.getfixturevalue(CONFIGS[model_type])
    with injected_nonfinite(range(3, 100), model=model_class(model_type)), pytest.raises(UserError) as stopped:
        train(load_options(config, [*RUN, "train.total_iter=8"]))
    message = str(stopped.value)
    assert "training stopped at iteration 5: 3 consecutive non-finite values" in message, message
    last_good = checkpoint.load(re.search(r"last good checkpoint: (\S+);", message).group(1))
    good = checkpoint.load(root_of(config) / "checkpoints" / "iter_00000002.pth")["model"]["nets"]["g"]
    assert last_good["iteration"] == 4 and finite(last_good)  # saved after skipped steps: still 2's weights
    assert all(torch.equal(good[k], v) for k, v in last_good["model"]["nets"]["g"].items())
    record("NaN injection", model_type=model_type, case="NaN from step 3 on", outcome="stopped at 5, last good loads")


def test_a_checkpoint_the_disk_refuses_is_one_line_and_the_previous_one_is_intact(tiny_sr_config, monkeypatch,
                                                                                   main_in_process):
    real_save, calls = torch.save, {"n": 0}

    def save_until_the_disk_is_full(state, f, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            f.write(b"\0" * 1000)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_save(state, f, *args, **kwargs)

    monkeypatch.setattr(checkpoint.torch, "save", save_until_the_disk_is_full)
    root = load_options(tiny_sr_config)["path"]["experiments_root"]
    code, _, err = main_in_process(train_main, "-opt", tiny_sr_config, *[a for s in RUN for a in ("--set", s)])
    ckpts = os.path.join(root, "checkpoints")
    line = assert_one_line_error(code, err, "iter_00000003.pth", "No space left on device", "iter_00000002.pth",
                                 "--resume auto")
    assert sorted(os.listdir(ckpts)) == ["iter_00000001.pth", "iter_00000002.pth"], line
    assert checkpoint.load(os.path.join(ckpts, "iter_00000002.pth"))["iteration"] == 2
    record("disk full / read-only", case="torch.save fails with ENOSPC at the 3rd checkpoint",
           outcome="one line; iter 2 intact, no partial file")


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB tmpfs (needs root and mount; else skipped)."""
    mount_point = tmp_path / "small_disk"
    mount_point.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount_point)],
                                           capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    yield mount_point
    subprocess.run(["umount", "--lazy", str(mount_point)], capture_output=True)  # the log may still be open


def test_a_really_full_disk_stops_in_one_line_with_a_loadable_checkpoint(tiny_sr_config, small_disk, main_in_process):
    root = small_disk / "exp"
    code, _, err = main_in_process(train_main, "-opt", tiny_sr_config, *[a for s in RUN for a in ("--set", s)],
                                   "--set", f"path.experiments_root={root}", "--set", "train.total_iter=1000",
                                   "--set", "network_g.num_feat=32")
    line = assert_one_line_error(code, err, "No space left on device", "last good checkpoint")
    last = checkpoint.latest(root / "checkpoints")
    assert last is not None and finite(checkpoint.load(last)) and not list((root / "checkpoints").glob(".*tmp*"))
    record("disk full / read-only", case="a 2 MiB tmpfs fills up", outcome=f"one line; {last.name} loads")
    assert str(last) in line


def test_a_read_only_experiment_folder_is_one_line(tiny_sr_config, main_in_process, tmp_path):
    if os.geteuid() != 0:
        folder = tmp_path / "read_only"
        folder.mkdir(mode=0o555)
    else:
        folder = "/sys"  # chmod does not stop root; sysfs refuses new folders
    code, _, err = main_in_process(train_main, "-opt", tiny_sr_config, "--set", f"path.experiments_root={folder}/exp",
                                   "--set", "train.total_iter=1")
    assert_one_line_error(code, err, f"{folder}/exp")
    record("disk full / read-only", case="experiments_root in a read-only folder", outcome="one line")
