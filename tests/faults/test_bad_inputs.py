"""Every command line against every case of the bad-input corpus that applies: read by a documented rule (exit 0), or
one line naming the file and the problem (exit 2, no traceback), the outputs of an earlier run left byte-identical."""
import os
import shutil

import pytest

from deflow.tools import bad_inputs
from deflow.tools.bad_inputs import CASES
from tests.conftest import call_main
from tests.faults.checks import assert_one_line_error, file_identities, missing_or_replaced
from tests.faults.commands import COMMANDS
from tests.faults.record import record

RUNS = [(command, case) for command in COMMANDS for case in command.outcomes()]


@pytest.fixture(scope="session")
def good_runs(corpus, models, tmp_path_factory):
    """Output folder of each command run on the corpus's good/ folder, made on first use."""
    done = {}

    def run(command):
        if command.name not in done:
            out = tmp_path_factory.mktemp("good_run") / "out"
            code, _, err = call_main(command.function(), *command.argv(corpus["good"], out, models))
            assert code == 0, err
            done[command.name] = out
        return done[command.name]
    return run


@pytest.mark.parametrize(("command", "case"), RUNS, ids=[f"{c.name}-{case}" for c, case in RUNS])
def test_a_bad_input_is_read_by_rule_or_ends_in_one_line_keeping_earlier_outputs(command, case, corpus, models,
                                                                                  good_runs, tmp_path):
    if case == "unreadable" and os.geteuid() == 0:
        pytest.skip("running as root: chmod 000 does not stop root from reading the file")
    out = tmp_path / "out"
    shutil.copytree(good_runs(command), out)
    before = file_identities(out)
    code, _, err = call_main(command.function(), *command.argv(corpus[case], out, models))
    record("bad inputs", command=command.name, case=case, expected=command.outcomes()[case], exit=code,
           traceback="Traceback" in err, earlier_outputs_kept=not missing_or_replaced(before, out))
    if command.outcomes()[case] == "ok":
        assert code == 0 and "Traceback" not in err, err
    else:
        assert_one_line_error(code, err, CASES[case].culprit)
        assert not missing_or_replaced(before, out)


@pytest.mark.parametrize("case", ["corrupt_png", "truncated_jpeg"])
def test_in_a_process_of_its_own_only_the_error_line_reaches_stderr(cli, corpus, tmp_path, case):
    """What the decoders' C code writes to stderr counts too: a broken file must not reach them."""
    result = cli("scripts/degrade.py", "--pipeline", "bicubic", "--input", str(corpus[case] / "gt"),
                 "--out", str(tmp_path / "out"), "--scale", "2")
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("error: ") and CASES[case].culprit in result.stderr, result.stderr


def test_make_bad_inputs_writes_every_case_and_lists_it(tmp_path):
    code, out, err = call_main(bad_inputs.main, "--out", tmp_path / "bad")
    assert code == 0, err
    assert all(name in out for name in CASES)
    assert {p.name for p in (tmp_path / "bad").iterdir()} == {"good", "spaces and ünïcode", *CASES} - {"spaces_unicode"}
