"""kill -9 of a training, then `--resume auto`, again and again: the chain must end where an uninterrupted run ends,
every tensor of the final checkpoint equal."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from deflow import checkpoint
from tests.conftest import ROOT

DRIVER = "tests.faults.slow_save_train"
TWO_PROCESSES = ("-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2")  # a launcher: DDP on gloo


def training_args(config: Path, root: Path, total: int) -> list[str]:
    sets = [f"path.experiments_root={root}", f"train.total_iter={total}", "val.val_freq=null",
            "logger.save_checkpoint_freq=1", "logger.keep_last=1000", "logger.print_freq=1"]
    return ["-opt", str(config), *[arg for s in sets for arg in ("--set", s)]]


def start(args: list[str], env: dict, log: Path, launcher: tuple = ()) -> subprocess.Popen:
    """The training (under `launcher`, e.g. TWO_PROCESSES) in a session of its own, killed as a group, its stderr
    into `log` (a pipe could fill)."""
    with open(log, "wb") as stderr:
        return subprocess.Popen([sys.executable, *launcher, "-m", DRIVER, *args], cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True)


def wait_for(condition, process: subprocess.Popen, log: Path, what: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"the training ended (exit {process.returncode}) before {what}: "
                                 f"{log.read_text()[-2000:]}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (Linux /proc): torchrun's workers may sit in sessions of their own."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_9(process: subprocess.Popen) -> None:
    """SIGKILL to the training's process group and to every process below it, at once."""
    below = descendants(process.pid)
    os.killpg(process.pid, signal.SIGKILL)
    for pid in below:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait()


def killed_chain(config: Path, root: Path, total: int, points: list[tuple[int, str]],
                 launcher: tuple = ()) -> list[dict]:
    """Train to `total`, killed with SIGKILL at each (iteration, how) of `points` and resumed with --resume auto
    after each kill. how = "after": as soon as iter_<iteration>.pth exists (the kill lands somewhere in a later
    iteration); "writing": in the middle of writing iter_<iteration>.pth. Returns one record per kill."""
    ckpt_dir, marker, log = root / "checkpoints", root.parent / f"{root.name}.saving", root.parent / f"{root.name}.log"
    records = []
    for index, (planned, how) in enumerate(points):
        landed = checkpoint.latest(ckpt_dir)
        done = int(landed.stem.split("_")[1]) if landed else 0
        iteration = max(planned, done + 1)  # a kill landed later than planned moves the next point on
        if iteration >= total:
            break
        name = f"iter_{iteration:08d}.pth"
        env = {**os.environ, "OMP_NUM_THREADS": "1", "DEFLOW_SLOW_SAVE": name if how == "writing" else "",
               "DEFLOW_SLOW_SAVE_MARKER": str(marker)}
        marker.unlink(missing_ok=True)
        process = start([*training_args(config, root, total), *(["--resume", "auto"] if index else [])], env, log,
                        launcher)
        if how == "writing":
            wait_for(marker.exists, process, log, f"the write of {name}")
        else:
            wait_for((ckpt_dir / name).exists, process, log, name)
        kill_9(process)
        temporaries = [p.name for p in ckpt_dir.iterdir() if p.name.startswith(f".{name}.tmp")]
        landed = checkpoint.latest(ckpt_dir)
        records.append({"point": iteration, "how": how, "last_checkpoint": landed.name if landed else None,
                        "temporary_left": bool(temporaries)})
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = start([*training_args(config, root, total), "--resume", "auto"], env, log, launcher)
    assert process.wait(timeout=600) == 0, log.read_text()[-3000:]
    return records


def uninterrupted(config: Path, root: Path, total: int, launcher: tuple = ()) -> None:
    result = subprocess.run([sys.executable, *launcher, "-m", "deflow.train", *training_args(config, root, total)],
                            cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
