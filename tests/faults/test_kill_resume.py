"""kill -9 at random iterations, one of them in the middle of a checkpoint write, then --resume auto: the final
checkpoint equals the uninterrupted run's, every tensor; alone and as a 2-process DDP run. `make test` runs the
pixel-SR model alone and DeFlow under DDP with two kills each; `scripts/fault_suite.py` runs every model type both
ways with five (DEFLOW_FAULT_SUITE=full)."""
import os
import random

import pytest

from tests.conftest import checkpoint_differences
from tests.faults.kill_resume import TWO_PROCESSES, killed_chain, uninterrupted
from tests.faults.record import record

FULL = os.environ.get("DEFLOW_FAULT_SUITE") == "full"
CONFIGS = {"SRModel": "tiny_sr_config", "DeFlowModel": "tiny_deflow_config", "ESRGANModel": "tiny_esrgan_config"}
TOTAL, KILLS = (16, 5) if FULL else (8, 2)


def kill_points(seed: int) -> list[tuple[int, str]]:
    """KILLS increasing iterations in [1, TOTAL - 2]; the second is killed while its checkpoint is being written."""
    iterations = sorted(random.Random(seed).sample(range(1, TOTAL - 1), KILLS))
    return [(it, "writing" if i == 1 else "after") for i, it in enumerate(iterations)]


@pytest.mark.parametrize("model_type", sorted(CONFIGS) if FULL else ["SRModel"])
def test_killed_and_resumed_ends_bitwise_where_the_uninterrupted_run_ends(model_type, request, tmp_path):
    config = request.getfixturevalue(CONFIGS[model_type])
    uninterrupted(config, tmp_path / "straight", TOTAL)
    kills = killed_chain(config, tmp_path / "killed", TOTAL, kill_points(seed=sum(map(ord, model_type))))
    final = f"checkpoints/iter_{TOTAL:08d}.pth"
    differing = checkpoint_differences(tmp_path / "straight" / final, tmp_path / "killed" / final)
    record("kill -9 and resume", model_type=model_type, kills=len(kills),
           points=" ".join(f"{k['point']}{'w' if k['how'] == 'writing' else ''}" for k in kills),
           identical=not differing)
    assert len(kills) >= KILLS - 1, kills
    assert any(k["how"] == "writing" and k["temporary_left"] for k in kills), f"no kill hit a checkpoint write: {kills}"
    assert not differing, f"{model_type}: differs after kill -9 and resume: {differing[:5]}"


@pytest.mark.parametrize("model_type", sorted(CONFIGS) if FULL else ["DeFlowModel"])
def test_a_killed_two_process_run_resumes_bitwise(model_type, request, tmp_path):
    """The same under DDP (2 processes, gloo): SIGKILL to the launcher's whole process group."""
    config = request.getfixturevalue(CONFIGS[model_type])
    total, points = TOTAL, kill_points(seed=sum(map(ord, model_type)) + 1)
    uninterrupted(config, tmp_path / "straight", total, TWO_PROCESSES)
    kills = killed_chain(config, tmp_path / "killed", total, points, TWO_PROCESSES)
    final = f"checkpoints/iter_{total:08d}.pth"
    differing = checkpoint_differences(tmp_path / "straight" / final, tmp_path / "killed" / final)
    record("kill -9 and resume", model_type=f"{model_type}, 2 processes", kills=len(kills),
           points=" ".join(f"{k['point']}{'w' if k['how'] == 'writing' else ''}" for k in kills),
           identical=not differing)
    assert len(kills) >= KILLS - 1 and any(k["how"] == "writing" and k["temporary_left"] for k in kills), kills
    assert not differing, f"{model_type}, 2 processes: differs after kill -9 and resume: {differing[:5]}"
