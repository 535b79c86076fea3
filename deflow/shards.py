"""Inference over a folder in N processes, resumable: the one code path of translate.py and test_sr.py, for one
process as for many.

    torchrun --nproc_per_node=N scripts/translate.py ...                       (one machine)
    torchrun --nnodes=M --nproc_per_node=N --rdzv-backend=c10d --rdzv-endpoint=HOST:PORT scripts/test_sr.py ...
                                                                  (the same command on each of M machines)

Sharding: the images are the sorted listing of the input folder, or the lines of `--list FILE` in their order. Rank r
of N makes the images r, r + N, r + 2N, ... of those still to do. An image's output depends only on the image, its
name and the settings (e.g. deflow.flow.deflow_model.image_generator), so the union of the shards is bit for bit the
output of one process.

Staging and resuming: outputs are written into `OUT/.resume-<key>/files/`, where the key is a digest of everything
that decides them (the weights, the options, the command's settings, the input folders). An image is finished when its
record `OUT/.resume-<key>/done/<name>.json` exists: its files are written first, each atomically (deflow.imageio:
`.part` file, then os.replace), so a killed process leaves no half image. A rerun of the same command, with any
number of processes, finds the same stage and makes only the images without a record. When every rank is done, rank 0
writes what needs every image (test_sr's metrics and report) from the records, moves the stage's files into OUT
(replacing namesakes, keeping other files) and removes the stage, so a run that succeeded is made anew when repeated.
A run that fails leaves OUT's files as they were and its stage for the rerun (removed when it finished nothing).
Other settings start a stage of their own; one left by a failed run stays until that run is repeated or the stage is
removed by hand. Two runs of one command into one OUT at the same time are not supported. On several machines OUT must
be one shared folder.

Errors: the ranks meet after each step (the checks, opening the stage, the shards, the merge). A UserError on any
rank ends the step there on every rank: rank 0 prints the lowest failing rank's message as the one error line and every
rank exits 2 (torchrun then reports the failed workers itself, and exits 1); a bug prints its traceback on its rank.
"""
import hashlib
import json
import os
import shutil
import sys
import traceback
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path, PurePosixPath
from typing import TypeVar

import torch
import torch.distributed as dist
from tqdm import tqdm

from deflow.devices import pick_device
from deflow.errors import UserError, close_progress_bars, print_error
from deflow.imageio import list_images
from deflow.outputs import output_folder, remove_abandoned_stages

T = TypeVar("T")
# a rank that finished its shard waits for the slowest one (after a resume, shards can differ by hours); a rank that
# died is noticed by torchrun or by its closed connection, not by this timeout
WAIT = timedelta(days=30)


class Processes:
    """This process among torchrun's (RANK, WORLD_SIZE, LOCAL_RANK; env:// rendezvous), or alone without torchrun.
    A context manager: joins the process group (gloo: only small Python objects travel) and leaves the one it
    joined."""

    def __init__(self):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank, self.local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
        self.joined = False

    def __enter__(self) -> "Processes":
        if self.world > 1 and not dist.is_initialized():
            dist.init_process_group("gloo", timeout=WAIT)
            self.joined = True
        return self

    def __exit__(self, kind, value, trace) -> None:
        """Leaves the group it joined, and then the process: even after destroy_process_group, a rank aborted at the
        interpreter's exit now and then (gloo: "terminate called without an active exception", SIGABRT in place of
        its exit status), so a joined rank ends here, without the C++ teardown; the `with` block must hold all of
        the command's work."""
        if self.joined:
            dist.destroy_process_group()
            if kind is None or kind is SystemExit:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(0 if kind is None else value.code or 0)

    @property
    def who(self) -> str:
        """'rank r/N: ' before a line only one rank prints, '' in one process."""
        return f"rank {self.rank}/{self.world}: " if self.world > 1 else ""

    def device(self, choice: str) -> str:
        """--device for this rank: a CUDA device without an index is the one of this rank's LOCAL_RANK."""
        device = pick_device(choice)
        if device.type == "cuda" and device.index is None:
            device = torch.device("cuda", self.local_rank % torch.cuda.device_count())
        return str(device)

    def gather(self, value) -> list:
        """Every rank's `value`, in rank order."""
        if self.world == 1:
            return [value]
        values = [None] * self.world
        dist.all_gather_object(values, value)
        return values

    def run(self, step: Callable[[], T]) -> T:
        """step() here, then meet the other ranks; when it failed on any rank, every rank stops (module docstring)."""
        failure = None
        try:
            result = step()
        except Exception as exc:
            failure = exc
        reports = self.gather(None if failure is None else (isinstance(failure, UserError), str(failure)))
        failed = [report for report in reports if report is not None]
        if not failed:
            return result
        user, message = failed[0]
        if failure is not None and not isinstance(failure, UserError):
            if self.world == 1:
                raise failure
            traceback.print_exception(failure)
        elif self.rank == 0 and user:
            print_error(message)
        else:
            close_progress_bars()
        self.gather(None)  # every line is out before any rank exits (torchrun stops the others at the first exit)
        raise SystemExit(2 if user else 1)


def listed_inputs(folder: Path, list_file: Path | None, flag: str,
                  lister: Callable[[Path], list[Path]] = list_images) -> list[Path]:
    """The inputs, as paths relative to `folder`: lister(folder) (its images, sorted by name), or the lines of
    `list_file` (one path relative to `folder` a line; blank lines skipped), in their order."""
    folder = Path(folder)
    if list_file is None:
        return [Path(path.name) for path in lister(folder)]
    if not folder.is_dir():
        raise UserError(f"{folder}: folder not found; check the path")
    try:
        lines = [line.strip() for line in Path(list_file).read_text(encoding="utf-8").splitlines()]
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"--list {list_file}: cannot read the file ({getattr(exc, 'strerror', None) or exc})") from None
    paths = [PurePosixPath(line) for line in lines if line]
    for path in paths:
        if path.is_absolute() or ".." in path.parts:
            raise UserError(f"--list {list_file}: {path} is not inside {flag} {folder}; give paths relative to it")
    if not paths:
        raise UserError(f"--list {list_file}: lists no input; give one path relative to {flag} {folder} a line")
    return [Path(path) for path in paths]


def output_names(inputs: list[Path], list_file: Path | None, folders: bool = False) -> list[str]:
    """Each input's name: its relative path, without the suffix unless `folders` ('a/img0'), checked to be unique."""
    names, seen = [], {}
    for path in inputs:
        name = (path if folders else path.with_suffix("")).as_posix()
        if name in seen:
            where = f"--list {list_file}" if list_file else "the folder"
            raise UserError(f"{where}: {seen[name]} and {path} would have one output name {name!r}; rename or "
                            "leave out one")
        seen[name] = path
        names.append(name)
    return names


def digest(settings: dict, model=None) -> str:
    """16 hex digits that change with any of `settings` (JSON-able) or of the model's options and weights."""
    h = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    if model is not None:
        h.update(json.dumps(model.opt, sort_keys=True, default=str).encode())
        _hash_tensors(h, model.state())
    return h.hexdigest()[:16]


def _hash_tensors(h, tree, prefix: str = "") -> None:
    if isinstance(tree, dict):
        for key in sorted(tree, key=str):
            _hash_tensors(h, tree[key], f"{prefix}/{key}")
    elif torch.is_tensor(tree):
        h.update(f"{prefix}:{tree.dtype}:{tuple(tree.shape)}".encode())
        h.update(tree.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    else:
        h.update(f"{prefix}={tree!r}".encode())


class Stage:
    """OUT/.resume-<key>/: files/ (what moves into OUT at the end) and done/ (a record per finished image)."""

    def __init__(self, out_dir: Path, key: str):
        self.out_dir, self.root = Path(out_dir), Path(out_dir) / f".resume-{key}"
        self.files, self.done = self.root / "files", self.root / "done"
        self.created = False  # OUT made by this run

    def record(self, name: str) -> dict | None:
        path = self.done / f"{name}.json"
        return json.loads(path.read_text()) if path.is_file() else None

    def finish(self, name: str, record: dict) -> None:
        path = self.done / f"{name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".part")
        partial.write_text(json.dumps(record))
        os.replace(partial, path)

    def open(self, flag: str, inputs: tuple) -> None:
        """Check and create OUT and the stage; remove what killed runs left half written."""
        self.created = not self.out_dir.exists()
        output_folder(self.out_dir, flag, inputs)
        remove_abandoned_stages(self.out_dir)
        try:
            self.done.mkdir(parents=True, exist_ok=True)
            self.files.mkdir(exist_ok=True)
        except OSError as exc:
            raise UserError(f"{flag} {self.out_dir}: cannot write into the folder ({exc.strerror or exc})") from None
        for partial in self.root.rglob("*.part"):
            partial.unlink()

    def move_into_place(self) -> None:
        for path in sorted(self.files.rglob("*")):
            if path.is_file():
                target = self.out_dir / path.relative_to(self.files)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(path, target)
        shutil.rmtree(self.root, ignore_errors=True)

    def discard_if_unused(self) -> None:
        """After a failure: the stage goes when no image was finished; OUT too when this run created it."""
        if not any(p.is_file() for p in self.done.rglob("*.json")):
            shutil.rmtree(self.root, ignore_errors=True)
            if self.created and self.out_dir.is_dir() and not any(self.out_dir.iterdir()):
                self.out_dir.rmdir()


def run_sharded(procs: Processes, out_dir: Path, flag: str, inputs: tuple, key: str, names: list[str],
                make: Callable[[int, Path], dict], merge: Callable[[list[dict], Path], None] | None = None,
                desc: str = "images") -> None:
    """Every image names[i] made once, by one rank: make(i, files folder) writes its files there and returns its
    record; then merge(every image's record in `names` order, files folder) on rank 0, and the files into `out_dir`.
    `key`: the digest of the settings (every rank must have the same)."""
    keys = procs.gather(key)
    stage = Stage(out_dir, key)

    def open_stage() -> list[int]:
        if len(set(keys)) > 1:
            raise UserError(f"the processes do not agree on the settings (keys {', '.join(sorted(set(keys)))}): give "
                            "every machine the same checkpoint, options and input folders")
        if procs.rank == 0:
            stage.open(flag, inputs)
        return [i for i in range(procs.rank, len(names), procs.world) if stage.record(names[i]) is None]

    def make_shard(mine: list[int]) -> None:
        for index in tqdm(mine, desc=desc, unit="img", disable=procs.rank != 0):
            stage.finish(names[index], make(index, stage.files))

    try:
        pending = sorted(i for part in procs.gather(procs.run(open_stage)) for i in part)
        mine = pending[procs.rank::procs.world]
        procs.run(lambda: make_shard(mine))
    except BaseException:
        if procs.rank == 0:
            stage.discard_if_unused()
        raise
    skipped = len(names) - len(pending)
    earlier = f"; {skipped} finished by an earlier run" if skipped and procs.rank == 0 else ""
    line = f"{procs.who}{len(mine)} of {len(names)} images made{earlier}\n"
    print(line, end="", flush=True)  # in one write: the ranks share stdout

    def finish() -> None:
        if procs.rank == 0:
            if merge is not None:
                merge([stage.record(name) for name in names], stage.files)
            stage.move_into_place()

    procs.run(finish)
