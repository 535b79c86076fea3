"""Where a command writes: output folders checked before any work, and filled only when the command succeeds.

A command that writes several files (degrade.py, the realism page, the PSF commands) writes them into a hidden
`.partial-<pid>-*` folder inside its output folder; when it finishes they replace their namesakes there (other files
are kept), and when it fails the hidden folder is removed: a failing run never replaces the outputs of an earlier one.
The hidden folder of a run that was killed outright is removed by the next run into that folder. translate.py and
test_sr.py stage the same way into a folder that a rerun continues (deflow/shards.py).
"""
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from deflow.errors import UserError


def output_folder(folder: Path, flag: str, inputs: tuple = ()) -> Path:
    """`folder`, created, after checking it is neither a file nor one of the `inputs` folders."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise UserError(f"{flag} {folder}: is a file, not a folder; give a folder for the outputs")
    if any(folder.resolve() == Path(other).resolve() for other in inputs if other is not None):
        raise UserError(f"{flag} {folder}: is also an input folder; choose another folder so no input is overwritten")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{flag} {folder}: cannot create the folder ({exc.strerror or exc})") from None
    return folder


def output_file(path: Path, flag: str) -> Path:
    """`path`, after checking it can be written as a file (its folder is created)."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{flag} {path}: is a folder; give a file name, e.g. {path / 'results'}{path.suffix}")
    output_folder(path.parent, flag)
    return path


def remove_abandoned_stages(folder: Path) -> None:
    """Remove the hidden folders of killed runs (their process is gone)."""
    for stage in folder.glob(".partial-*"):
        pid = stage.name.split("-")[1]
        if pid.isdigit() and stage.is_dir() and not _alive(int(pid)):
            shutil.rmtree(stage, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except (ProcessLookupError, OverflowError):
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


@contextmanager
def staged_folder(folder: Path, flag: str, inputs: tuple = ()) -> Iterator[Path]:
    """A hidden folder inside `folder` (see output_folder) to write into; its files move into `folder` when the block
    ends without an exception. A failed block leaves `folder` as it was (removed again if this call created it)."""
    folder = Path(folder)
    created = not folder.exists()
    output_folder(folder, flag, inputs)
    remove_abandoned_stages(folder)
    try:
        stage = Path(tempfile.mkdtemp(prefix=f".partial-{os.getpid()}-", dir=folder))
    except OSError as exc:
        raise UserError(f"{flag} {folder}: cannot write into the folder ({exc.strerror or exc})") from None
    try:
        yield stage
        for path in sorted(stage.rglob("*")):
            if path.is_file():
                target = folder / path.relative_to(stage)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(path, target)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        if created and not any(folder.iterdir()):
            folder.rmdir()
