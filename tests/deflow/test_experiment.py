"""The experiment folder: nothing of a previous run is lost, one training at a time, resume falls back to a good file."""
import json
import os
import subprocess
import sys

import pytest
import torch

from deflow import checkpoint
from deflow.config import load_options
from deflow.errors import UserError
from deflow.trainer import train


def quick(config, root, *sets):
    return load_options(config, [f"path.experiments_root={root}", "val.val_freq=null", *sets])


def test_a_fresh_run_that_fails_leaves_the_previous_run_in_place(tiny_sr_config, tmp_path):
    root = tmp_path / "exp"
    train(quick(tiny_sr_config, root, "train.total_iter=4"))
    options_before = (root / "options.yml").read_bytes()
    with pytest.raises(UserError, match="gt_size"):
        train(quick(tiny_sr_config, root, "train.total_iter=8", "datasets.train.gt_size=4096"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exp", "tiny.yml", "train", "val"]  # nothing archived
    assert (root / "options.yml").read_bytes() == options_before
    resumed = checkpoint.load(checkpoint.latest(train(quick(tiny_sr_config, root), resume="auto") / "checkpoints"))
    assert resumed["iteration"] == 8 and "resumed from" in (root / "train.log").read_text()


def test_a_fresh_run_archives_the_previous_one_and_logs_it(tiny_sr_config, tmp_path):
    root = tmp_path / "exp"
    train(quick(tiny_sr_config, root, "train.total_iter=2"))
    train(quick(tiny_sr_config, root, "train.total_iter=2"))
    archived = [p for p in tmp_path.iterdir() if p.name.startswith("exp_archived_")]
    assert len(archived) == 1 and (archived[0] / "checkpoints" / "iter_00000002.pth").exists()
    assert "moved the previous run" in (root / "train.log").read_text()


def test_resume_auto_without_checkpoint_says_so_in_the_log(tiny_sr_config, tmp_path):
    root = train(quick(tiny_sr_config, tmp_path / "exp", "train.total_iter=2"), resume="auto")
    assert "--resume auto: no checkpoint" in (root / "train.log").read_text()


def test_a_rejected_resume_does_not_rewrite_the_options(tiny_sr_config, tmp_path):
    root = tmp_path / "exp"
    train(quick(tiny_sr_config, root, "train.total_iter=2"))
    before = (root / "options.yml").read_bytes()
    with pytest.raises(UserError, match="was trained with network_g"):
        train(quick(tiny_sr_config, root, "network_g.num_feat=16"), resume="auto")
    assert (root / "options.yml").read_bytes() == before


def test_resume_auto_falls_back_from_a_truncated_checkpoint_and_cleans_temporaries(tiny_sr_config, tmp_path):
    root = tmp_path / "exp"
    train(quick(tiny_sr_config, root, "train.total_iter=4", "logger.save_checkpoint_freq=2"))
    latest = root / "checkpoints" / "iter_00000004.pth"
    latest.write_bytes(latest.read_bytes()[:500])  # as if the disk filled up while it was written
    leftover = root / "checkpoints" / ".iter_00000006.pth.tmp12345"
    leftover.write_bytes(b"partial")
    train(quick(tiny_sr_config, root, "train.total_iter=6"), resume="auto")
    log = (root / "train.log").read_text()
    assert "skipped" in log and "iter_00000004.pth" in log and "resumed from" in log and "iter_00000002.pth" in log
    assert "at iteration 2" in log and not leftover.exists()
    assert checkpoint.load(root / "checkpoints" / "iter_00000006.pth")["iteration"] == 6


def test_resume_auto_with_no_loadable_checkpoint_is_one_error(tiny_sr_config, tmp_path):
    root = tmp_path / "exp"
    train(quick(tiny_sr_config, root, "train.total_iter=2"))
    (root / "checkpoints" / "iter_00000002.pth").write_bytes(b"garbage")
    with pytest.raises(UserError, match="no checkpoint in .* loads"):
        train(quick(tiny_sr_config, root), resume="auto")


def test_a_checkpoint_of_another_format_version_is_refused(tiny_sr_config, tmp_path):
    root = tmp_path / "exp"
    train(quick(tiny_sr_config, root, "train.total_iter=2"))
    path = root / "checkpoints" / "iter_00000002.pth"
    state = checkpoint.load(path)
    state["format_version"] = checkpoint.FORMAT_VERSION + 1
    checkpoint.save_atomic(state, path)
    with pytest.raises(UserError, match="checkpoint format"):
        train(quick(tiny_sr_config, root), resume=str(path))


def test_a_second_training_into_a_held_folder_is_refused(tiny_sr_config, tmp_path):
    import socket

    root = tmp_path / "exp"
    root.mkdir()
    lock = {"pid": os.getpid(), "host": socket.gethostname(), "started": "now"}  # a running process holds it
    (root / ".lock").write_text(json.dumps(lock))
    with pytest.raises(UserError, match=f"is in use by process {os.getpid()}"):
        train(quick(tiny_sr_config, root, "train.total_iter=2"))
    (root / ".lock").unlink()
    train(quick(tiny_sr_config, root, "train.total_iter=2"))
    assert not (root / ".lock").exists()  # released at the end


def test_a_stale_lock_is_taken_over_and_logged(tiny_sr_config, tmp_path):
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(finished.stdout)
    import socket

    root = tmp_path / "exp"
    root.mkdir()
    (root / ".lock").write_text(json.dumps({"pid": dead_pid, "host": socket.gethostname(), "started": "earlier"}))
    train(quick(tiny_sr_config, root, "train.total_iter=2"))
    assert f"took over the stale lock of process {dead_pid}" in (root / "train.log").read_text()


def test_two_trainings_started_together_do_not_mix(cli, tiny_sr_config, tmp_path):
    root = tmp_path / "exp"
    args = ["-m", "deflow.train", "-opt", str(tiny_sr_config), "--set", f"path.experiments_root={root}",
            "--set", "train.total_iter=30", "--set", "val.val_freq=null", "--set", "logger.save_checkpoint_freq=10"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    procs = [subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env) for _ in range(2)]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    refused = next(err for code, err in results if code == 2)
    assert "is in use by process" in refused and len(refused.strip().splitlines()) == 1
    state = checkpoint.load(root / "checkpoints" / "iter_00000030.pth")
    assert state["iteration"] == 30 and not [p for p in tmp_path.iterdir() if "archived" in p.name]
    assert torch.isfinite(state["model"]["nets"]["g"]["conv_first.weight"]).all()
