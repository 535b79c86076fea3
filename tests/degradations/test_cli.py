import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from deflow.imageio import read_image, write_image
from degradations.cli import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def hr_folder(tmp_path) -> Path:
    folder = tmp_path / "hr"
    g = torch.Generator().manual_seed(0)
    write_image(folder / "a.png", torch.rand(3, 32, 40, generator=g))
    write_image(folder / "b.png", torch.rand(3, 27, 30, generator=g))  # not a multiple of 2: cropped to 26x30
    return folder


def degrade(hr_folder: Path, out: Path, *extra: str) -> None:
    main(["--pipeline", "dasr_aniso_noise", "--input", str(hr_folder), "--out", str(out), "--scale", "2", *extra])


def test_degrade_writes_lr_copies_with_the_same_names_and_is_seeded(hr_folder, tmp_path):
    degrade(hr_folder, tmp_path / "lr")
    assert sorted(p.name for p in (tmp_path / "lr").iterdir()) == ["a.png", "b.png"]
    assert read_image(tmp_path / "lr" / "a.png").shape == (3, 16, 20)
    assert read_image(tmp_path / "lr" / "b.png").shape == (3, 13, 15)
    degrade(hr_folder, tmp_path / "again")
    degrade(hr_folder, tmp_path / "other", "--seed", "1")
    first = read_image(tmp_path / "lr" / "a.png")
    assert torch.equal(first, read_image(tmp_path / "again" / "a.png"))
    assert not torch.equal(first, read_image(tmp_path / "other" / "a.png"))


@pytest.mark.parametrize("args,message", [
    (["--pipeline", "bicubic", "--out", "{hr}"], "is also an input folder"),
    (["--pipeline", "bicbic", "--out", "{tmp}/lr"], "did you mean 'bicubic'"),
])
def test_degrade_reports_user_errors_on_one_line_and_exits_2(hr_folder, tmp_path, capsys, args, message):
    args = [a.format(hr=hr_folder, tmp=tmp_path) for a in args] + ["--input", str(hr_folder)]
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_degrade_script_runs_as_a_command_without_traceback(hr_folder, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    script = str(ROOT / "scripts" / "degrade.py")
    ok = subprocess.run([sys.executable, script, "--pipeline", "bicubic", "--input", str(hr_folder),
                         "--out", str(tmp_path / "lr"), "--scale", "2"], capture_output=True, text=True, env=env)
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "lr" / "a.png").is_file()
    bad = subprocess.run([sys.executable, script, "--pipeline", "nope", "--input", str(tmp_path / "missing"),
                          "--out", str(tmp_path / "x")], capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and bad.stderr.startswith("error: ")
