"""scripts/fault_suite.py's table: a failing run that lost earlier outputs is counted, a rule case's new outputs not."""
from deflow.bench.fault_suite import summary


def test_the_summary_counts_only_what_failing_runs_lost():
    rows = [{"section": "bad inputs", "command": "x.py", "case": "grayscale", "expected": "ok", "exit": 0,
             "traceback": False, "earlier_outputs_kept": False},
            {"section": "bad inputs", "command": "x.py", "case": "zero_byte", "expected": "error", "exit": 2,
             "traceback": False, "earlier_outputs_kept": False},
            {"section": "bad inputs", "command": "x.py", "case": "text_as_png", "expected": "error", "exit": 1,
             "traceback": True, "earlier_outputs_kept": True},
            {"section": "kill -9 and resume", "model_type": "SRModel", "kills": 5, "identical": True}]
    text = summary(rows, "4 passed", 1.0)
    assert "| x.py | 3 | 1 | 1 | 1 |" in text
    assert "| model_type | kills | identical |" in text and "| SRModel | 5 | True |" in text
