"""Commands the experiments start: a run with its output logged, and `--set` options from a dict."""
import json
import subprocess
from pathlib import Path


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
