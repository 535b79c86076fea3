"""How the fault suite judges a run: one error line and no traceback; earlier outputs unchanged."""
import re
from pathlib import Path

PROGRESS_BAR = re.compile(r"\|\s*\d+/\d+ \[|^\s*$")


def error_lines(stderr: str) -> list[str]:
    """The lines of stderr that are not (tqdm) progress bars."""
    return [line for line in stderr.splitlines() if not PROGRESS_BAR.search(line)]


def assert_one_line_error(code: int, stderr: str, *names: str) -> str:
    """Exit status 2 and one `error: ...` line on stderr that mentions every one of `names`; returns the line."""
    lines = error_lines(stderr)
    assert code == 2 and "Traceback" not in stderr, f"exit {code}:\n{stderr}"
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    for name in names:
        assert str(name) in lines[0], f"{name!r} not named in: {lines[0]}"
    return lines[0]


def identity(path: Path) -> tuple:
    """Content, inode and modification time: a file rewritten with the same bytes is still told apart."""
    stat = path.stat()
    return path.read_bytes(), stat.st_ino, stat.st_mtime_ns


def file_identities(folder: Path) -> dict[str, tuple]:
    """{path relative to folder: identity} of every file under it."""
    return {str(p.relative_to(folder)): identity(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def kept_places(folder: Path, name: str):
    """Where file `name` of `folder` may be now: in place, or moved with its run to a `<run>_archived_*` sibling of
    the run's folder (a new training run does that), the run's folder being `folder` or any folder inside it."""
    parts = Path(name).parts
    yield folder / name
    for depth in range(len(parts)):
        run = folder.joinpath(*parts[:depth])
        for archived in sorted(run.parent.glob(f"{run.name}_archived_*")):
            yield archived.joinpath(*parts[depth:])


def missing_or_replaced(before: dict[str, tuple], folder: Path) -> list[str]:
    """The files of `before` that are no longer the same files under `folder` or where a new run moved them."""
    return [name for name, was in before.items()
            if not any(place.is_file() and identity(place) == was for place in kept_places(folder, name))]
