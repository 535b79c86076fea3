"""Config fuzzing (hypothesis): random mutations of every shipped config give a clear error (UserError) or valid
options, never another exception; mutations of the tiny configs of each model type are trained for two iterations
and give a clear error or a run. `make test` runs a fixed sample; scripts/fault_suite.py runs more (>= 500)."""
import signal
from collections import Counter
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deflow.config import load_yaml_with_includes, resolve_options
from deflow.errors import UserError
from deflow.registry import load_plugins
from deflow.trainer import train
from tests.conftest import ROOT
from tests.faults.fuzz import apply, mutations
from tests.faults.record import record
from tests.faults.test_kill_resume import FULL

SHIPPED = sorted([*ROOT.glob("confs/**/*.yml"), *ROOT.glob("deflow/bench/confs/*.yml")])
CASES_OPTIONS, CASES_RUNS = (600, 240) if FULL else (150, 40)
RUN_CONFIGS = ("tiny_sr_config", "tiny_deflow_config", "tiny_esrgan_config")


def trains(opt: dict) -> bool:
    """A config of a model type with nothing to train (a classical pipeline) is checked as inference reads it."""
    from deflow.registry import MODELS

    return bool(MODELS.get(opt["model_type"]).TRAINED)


def fuzz_settings(cases: int):
    return settings(max_examples=cases, deadline=None, database=None, derandomize=not FULL, print_blob=False,
                    suppress_health_check=list(HealthCheck))


class Hang(Exception):
    pass


def outcome(run) -> str:
    """'ok', 'error: <message>' for a UserError, else the exception's type and message (a defect)."""
    def alarm(*_):
        raise Hang("no result in 120 s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(120)
    try:
        run()
        return "ok"
    except UserError as exc:
        message = str(exc)
        return "error: " + message if "\n" not in message.strip() else f"multi-line error: {message!r}"
    except Exception as exc:  # anything else is what the fuzzer looks for
        return f"{type(exc).__name__}: {exc}"
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def check(results: list, section: str) -> None:
    kinds = Counter("ok" if r.startswith("ok") else "error" if r.startswith("error: ") else "defect"
                    for _, r in results)
    defects = [f"{case}: {r}" for case, r in results if not (r == "ok" or r.startswith("error: "))]
    record(section, cases=len(results), ok=kinds["ok"], clear_errors=kinds["error"], defects=len(defects))
    assert not defects, f"{len(defects)} of {len(results)} cases:\n" + "\n".join(defects[:10])


def test_mutated_shipped_configs_give_a_clear_error_or_valid_options():
    load_plugins()
    raw = {path: load_yaml_with_includes(path) for path in SHIPPED}
    assert len(raw) >= 10
    results = []

    @fuzz_settings(CASES_OPTIONS)
    @given(st.sampled_from(SHIPPED).flatmap(lambda path: st.tuples(st.just(path), mutations(raw[path]))))
    def case(drawn):
        path, mutation = drawn
        results.append((f"{path.relative_to(ROOT)}: {mutation}",
                        outcome(lambda: resolve_options(apply(raw[path], mutation), training=trains(raw[path])))))

    case()
    check(results, "config fuzzing: options of every shipped config")


def test_mutated_tiny_configs_give_a_clear_error_or_a_run(request, tmp_path):
    base = {name: yaml.safe_load(Path(request.getfixturevalue(name)).read_text()) for name in RUN_CONFIGS}
    for opt in base.values():
        opt["train"]["total_iter"] = 2
        opt["val"] = {"val_freq": None}
    results = []

    @fuzz_settings(CASES_RUNS)
    @given(st.sampled_from(RUN_CONFIGS).flatmap(lambda name: st.tuples(st.just(name), mutations(base[name]))))
    def case(drawn):
        name, mutation = drawn
        opt = apply(base[name], mutation)
        if isinstance(opt.get("path"), dict):
            opt["path"]["experiments_root"] = str(tmp_path / f"run{len(results)}")
        results.append((f"{name}: {mutation}", outcome(lambda: train(resolve_options(opt)))))

    case()
    check(results, "config fuzzing: runs of the tiny configs")


@pytest.mark.parametrize("kind", ["negative", "zero", "fraction"])
def test_the_mutations_change_what_they_name(kind):
    from tests.faults.fuzz import Mutation

    mutated = apply({"train": {"lr": 2e-4, "total_iter": 8}}, Mutation(("train", "total_iter"), kind))
    assert mutated["train"]["total_iter"] == {"negative": -8, "zero": 0, "fraction": 8.5}[kind]
    assert mutated["train"]["lr"] == 2e-4
