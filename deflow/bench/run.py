"""Commands the experiments start: a run with its output logged, and `--set` options from a dict."""
import json
import os
import platform
import subprocess
from pathlib import Path

import torch


def run(cmd: list[str], log: Path | None = None, env: dict | None = None) -> None:
    """Run a command; its output goes to `log` (appended) when given, else to the terminal."""
    if log is None:
        print("$", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True, env=env)
        return
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as stream:
        stream.write("$ " + " ".join(cmd) + "\n")
        stream.flush()
        result = subprocess.run(cmd, stdout=stream, stderr=subprocess.STDOUT, env=env)
    if result.returncode != 0:
        tail = "".join(log.read_text().splitlines(keepends=True)[-15:])
        raise RuntimeError(f"command failed (exit {result.returncode}), log {log}:\n{tail}")


def overrides(sets: dict) -> list[str]:
    """{"a.b": value} -> ["--set", "a.b=value", ...]; lists as JSON."""
    return [arg for key, value in sets.items() for arg in ("--set", f"{key}={json.dumps(value, default=str)}"
                                                           if isinstance(value, list) else f"{key}={value}")]


def machine(load: float, when: str, runs_on: str) -> str:
    """The machine line of a result file: host, CPU cores, the 1-minute load average `load` measured `when` ("at
    start", "at the end"), torch, and what the work ran on (`runs_on`: device, jobs, threads)."""
    return (f"{platform.node()} ({platform.machine()}, {os.cpu_count()} CPU cores, load average {load:.1f} {when}; "
            f"torch {torch.__version__} on {runs_on})")
