"""The experiment folder of a run: one training at a time (a lock), the previous run kept aside, the log.

    <experiments_root>/.lock          {"pid", "host", "started"} of the training that holds the folder
    <experiments_root>/options.yml    the resolved options of the run
    <experiments_root>/train.log      the log (also printed)
    <experiments_root>/checkpoints/   see deflow.checkpoint
    <experiments_root>/tb/            tensorboard

A lock whose process is gone (same host, PID not running) is stale and taken over, with a line in the log.
"""
import json
import logging
import os
import socket
import sys
import time
from pathlib import Path

import yaml

from deflow.errors import UserError
from deflow.outputs import output_folder

log = logging.getLogger("deflow")

LOCK = ".lock"


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a process of another user
        return True
    return True


class ExperimentLock:
    """Held by the process that trains into `root`; `acquire` fails with one line naming the holder."""

    def __init__(self, root: Path):
        self.root = root
        self.path = root / LOCK
        self.notices: list[str] = []

    def acquire(self) -> None:
        output_folder(self.root, "path.experiments_root")
        mine = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
        draft = self.root / f".lock.{os.getpid()}"
        draft.write_text(json.dumps(mine))
        try:
            for _ in range(2):
                try:
                    os.link(draft, self.path)  # atomic: fails if another process holds the folder
                    return
                except FileExistsError:
                    self._clear_if_stale()
        finally:
            draft.unlink(missing_ok=True)
        holder = self._holder()
        raise UserError(f"{self.root} is in use by process {holder.get('pid')} on {holder.get('host')} (started "
                        f"{holder.get('started')}); wait for it to finish, or give this run another name or "
                        f"path.experiments_root (if no such process runs, delete {self.path})")

    def _holder(self) -> dict:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}

    def _clear_if_stale(self) -> None:
        holder = self._holder()
        if holder.get("host") == socket.gethostname() and isinstance(holder.get("pid"), int) \
                and not _running(holder["pid"]):
            self.path.unlink(missing_ok=True)
            self.notices.append(f"took over the stale lock of process {holder['pid']} (no longer running) "
                                f"in {self.root}")

    def release(self) -> None:
        if self._holder().get("pid") == os.getpid():
            self.path.unlink(missing_ok=True)


def archive_previous_run(root: Path) -> Path | None:
    """Move everything of a previous run in `root` (all but the lock) to a new <root>_archived_<time> folder."""
    entries = [p for p in root.iterdir() if p.name != LOCK and not p.name.startswith(f"{LOCK}.")]
    if not entries:
        return None
    stamp = time.strftime("%Y%m%d_%H%M%S")
    archived = root.with_name(f"{root.name}_archived_{stamp}")
    suffix = 1
    while archived.exists():
        suffix += 1
        archived = root.with_name(f"{root.name}_archived_{stamp}_{suffix}")
    archived.mkdir()
    for entry in entries:
        entry.rename(archived / entry.name)
    return archived


def write_options(root: Path, opt: dict) -> None:
    (root / "checkpoints").mkdir(parents=True, exist_ok=True)
    (root / "options.yml").write_text(yaml.safe_dump(opt, sort_keys=False))


def setup_logging(root: Path | None, rank: int) -> None:
    """Log to stdout, and on rank 0 to root/train.log once `root` is given."""
    log.handlers.clear()
    log.setLevel(logging.INFO if rank == 0 else logging.WARNING)
    log.propagate = False
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S")
    handlers = [logging.StreamHandler(sys.stdout)]
    if rank == 0 and root is not None:
        handlers.append(logging.FileHandler(root / "train.log"))
    for handler in handlers:
        handler.setFormatter(fmt)
        log.addHandler(handler)
