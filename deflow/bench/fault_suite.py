"""The fault suite as a benchmark: tests/faults and the DDP resume test at full size (DEFLOW_FAULT_SUITE=full: kill -9
at five points for every model type, >= 500 fuzzed configs of each kind), then one summary table.

    python scripts/fault_suite.py --out fault_suite/      # writes fault_suite/summary.md and rows.jsonl

`make test` runs the same tests at a smaller size.
"""
import argparse
import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from deflow.errors import user_errors_exit_2
from deflow.outputs import output_folder

ROOT = Path(__file__).resolve().parents[2]
TESTS = ["tests/faults", "tests/deflow/test_ddp_resume.py"]


def summary(rows: list[dict], pytest_line: str, minutes: float) -> str:
    sections = defaultdict(list)
    for row in rows:
        sections[row.pop("section")].append(row)
    lines = [f"# Fault suite ({minutes:.1f} min): {pytest_line}", ""]
    bad = sections.pop("bad inputs", [])
    if bad:
        per_command = defaultdict(lambda: [0, 0, 0, 0])
        for row in bad:
            counts = per_command[row["command"]]
            failing = row["expected"] == "error"
            counts[0] += 1
            counts[1] += failing and row["exit"] == 2
            counts[2] += row["traceback"]
            counts[3] += failing and not row["earlier_outputs_kept"]
        lines += ["## bad inputs", "", "| command | cases | one-line errors (exit 2) | tracebacks | earlier outputs lost "
                  "by a failing run |", "| --- | --- | --- | --- | --- |"]
        lines += [f"| {name} | {n} | {errors} | {tb} | {lost} |"
                  for name, (n, errors, tb, lost) in sorted(per_command.items())]
        lines.append("")
    for section, section_rows in sections.items():
        keys = list(dict.fromkeys(k for row in section_rows for k in row))
        lines += [f"## {section}", "", "| " + " | ".join(keys) + " |", "|" + " --- |" * len(keys)]
        lines += ["| " + " | ".join(str(row.get(k, "")) for k in keys) + " |" for row in section_rows]
        lines.append("")
    return "\n".join(lines)


@user_errors_exit_2
def main(argv=None):
    parser = argparse.ArgumentParser(prog="scripts/fault_suite.py", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("fault_suite"))
    parser.add_argument("--quick", action="store_true", help="the make-test sizes")
    args = parser.parse_args(argv)
    out = output_folder(args.out, "--out")
    rows_file = out / "rows.jsonl"
    rows_file.unlink(missing_ok=True)
    env = {**os.environ, "DEFLOW_FAULT_REPORT": str(rows_file.resolve())}
    if not args.quick:
        env["DEFLOW_FAULT_SUITE"] = "full"
    start = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:warnings", "-p", "no:cacheprovider",
                             *TESTS], cwd=ROOT, env=env, capture_output=True, text=True)
    tail = [line for line in result.stdout.splitlines() if line.strip()]
    rows = [json.loads(line) for line in rows_file.read_text().splitlines()] if rows_file.exists() else []
    text = summary(rows, tail[-1] if tail else "no pytest output", (time.monotonic() - start) / 60)
    (out / "summary.md").write_text(text + "\n")
    print(text)
    if result.returncode != 0:
        print("\n".join(tail[-40:]), file=sys.stderr)
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
