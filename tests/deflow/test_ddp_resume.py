"""DDP (2 processes, gloo, as torchrun starts them): a run stopped and resumed ends bitwise equal to the uninterrupted
run, because every rank's generators are saved and restored; another number of processes is refused in one line."""
import os

import pytest
import torch

from deflow import checkpoint
from tests.conftest import checkpoint_differences
from tests.faults.checks import assert_one_line_error
from tests.faults.kill_resume import TWO_PROCESSES
from tests.faults.record import record


def torchrun(config, root, *args, cli):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = cli(*TWO_PROCESSES, "-m", "deflow.train", "-opt", config, "--set", f"path.experiments_root={root}", "--set", "val.val_freq=null",
                 "--set", "logger.save_checkpoint_freq=4", "--set", "train.total_iter=8", *args, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return root


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch built without distributed")
@pytest.mark.parametrize("config_fixture", ["tiny_sr_config", "tiny_deflow_config"])
def test_a_two_process_run_resumes_bitwise(config_fixture, request, tmp_path, cli, main_in_process):
    config = request.getfixturevalue(config_fixture)
    straight = torchrun(config, tmp_path / "straight", cli=cli)
    split = torchrun(config, tmp_path / "split", "--set", "train.total_iter=4", cli=cli)
    torchrun(config, split, "--resume", "auto", cli=cli)
    final = "checkpoints/iter_00000008.pth"
    rngs = checkpoint.load(straight / final)["rng"]
    assert len(rngs) == 2 and not torch.equal(rngs[0]["torch"], rngs[1]["torch"])
    differing = checkpoint_differences(straight / final, split / final)
    record("DDP resume", model_type=config_fixture, processes=2, identical=not differing)
    assert not differing, f"differ after a 2-process resume: {differing[:5]}"

    # one process cannot continue what two started: refused before any work, in one line
    from deflow.train import main

    code, _, err = main_in_process(main, "-opt", config, "--set", f"path.experiments_root={split}",
                                   "--set", "train.total_iter=12", "--resume", "auto")
    assert_one_line_error(code, err, "2 process", "torchrun --nproc_per_node=2")
    record("DDP resume", model_type=config_fixture, processes="2 -> 1", identical="refused in one line")
    assert checkpoint.latest(split / "checkpoints").name == "iter_00000008.pth"
