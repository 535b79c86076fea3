"""Rows for the fault suite's summary table (scripts/fault_suite.py): appended as JSON lines to $DEFLOW_FAULT_REPORT
when it is set, else dropped."""
import json
import os


def record(section: str, **row) -> None:
    path = os.environ.get("DEFLOW_FAULT_REPORT")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps({"section": section, **row}) + "\n")
