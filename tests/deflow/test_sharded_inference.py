"""translate.py and test_sr.py under torchrun (2 gloo processes on the CPU): the union of the shards is the
single-process run bit for bit (images, metrics, report), each image is made once, a failure on one rank ends the job
in one line with the earlier outputs kept, and the rerun makes only what the failed run left undone; --list."""
import os
import re
import time

import pytest
import torch

from deflow import checkpoint
from deflow.config import load_options
from deflow.imageio import write_image
from deflow.trainer import train
from tests.conftest import ROOT, call_main, write_pairs, write_tiny_deflow_config, write_tiny_sr_config
from tests.faults.checks import error_lines, file_identities, missing_or_replaced
from tests.faults.kill_resume import TWO_PROCESSES

pytestmark = pytest.mark.skipif(not torch.distributed.is_available(), reason="torch built without distributed")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sharded")
    sr_root = train(load_options(write_tiny_sr_config(folder / "sr"), ["train.total_iter=1", "val.val_freq=null"]))
    deflow_root = train(load_options(write_tiny_deflow_config(folder / "deflow"), ["train.total_iter=1"]))
    gt, lq = write_pairs(folder / "images", 6, 32, 2)
    return {"sr": checkpoint.latest(sr_root / "checkpoints"), "deflow": checkpoint.latest(deflow_root / "checkpoints"),
            "gt": gt, "lq": lq}


def files(folder):
    """{path relative to folder: bytes} of every file under it."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def torchrun(cli, script, *args):
    return cli(*TWO_PROCESSES, script, *map(str, args), env={**os.environ, "OMP_NUM_THREADS": "1"})


def made(stdout):
    """{rank: images it made} from the ranks' 'rank r/2: n of N images made' lines."""
    return {int(r): int(n) for r, n in re.findall(r"^rank (\d)/2: (\d+) of \d+ images made", stdout, re.M)}


def truncate(path):
    """Cut a PNG inside its image data: the header still reads, the pixels do not."""
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])


def test_translate_in_two_processes_fails_in_one_line_then_resumes_to_the_single_process_output(models, cli,
                                                                                               tmp_path):
    from deflow.tools.translate import main

    source = tmp_path / "src"
    source.mkdir()
    for path in sorted(models["gt"].iterdir()):
        (source / path.name).write_bytes(path.read_bytes())
    args = ["--model_path", models["deflow"], "--source_dir", source, "--seed", "3", "--device", "cpu"]
    code, _, err = call_main(main, *args, "--out_dir", tmp_path / "one")
    assert code == 0, err
    expected = files(tmp_path / "one")
    assert sorted(expected) == [f"img{i}.png" for i in range(6)]

    # an earlier run's outputs in --out_dir; img5, the last of rank 1's shard (1, 3, 5), cannot be read
    out = tmp_path / "two"
    write_image(out / "img0.png", torch.zeros(3, 8, 8))
    (out / "notes.txt").write_text("kept")
    before = file_identities(out)
    good = (source / "img5.png").read_bytes()
    truncate(source / "img5.png")
    failed = torchrun(cli, "scripts/translate.py", *args, "--out_dir", out)
    lines = [line for line in error_lines(failed.stderr) if line.startswith("error: ")]
    assert failed.returncode != 0 and len(lines) == 1 and "img5.png" in lines[0], failed.stderr[-3000:]
    assert "exitcode  : 2" in failed.stderr and f'File "{ROOT / "deflow"}' not in failed.stderr, "exit 2, no traceback"
    assert not missing_or_replaced(before, out), "a failed run keeps the earlier outputs"
    finished = sorted(p.stem for p in out.glob(".resume-*/done/*.json"))
    assert finished == ["img0", "img1", "img2", "img3", "img4"], "both ranks' finished images are kept for the rerun"

    (source / "img5.png").write_bytes(good)
    rerun_started = time.time_ns()
    rerun = torchrun(cli, "scripts/translate.py", *args, "--out_dir", out)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert made(rerun.stdout) == {0: 1, 1: 0} and "5 finished by an earlier run" in rerun.stdout, rerun.stdout
    assert files(out) == expected | {"notes.txt": b"kept"}, "the union of the shards is the single-process run"
    older = [name for name in expected if (out / name).stat().st_mtime_ns < rerun_started]
    assert older == [f"img{i}.png" for i in range(5)], "the rerun made img5 alone"


def test_test_sr_in_two_processes_writes_the_single_process_images_metrics_and_report(models, cli, tmp_path):
    from deflow.tools.test_sr import main

    args = ["--model_path", models["sr"], "--input", models["lq"], "--gt", models["gt"], "--device", "cpu"]
    code, _, err = call_main(main, *args, "--out", tmp_path / "one")
    assert code == 0, err
    expected = files(tmp_path / "one")
    assert {"metrics.csv", "metrics.json", "report.html", "sr/img5.png"} <= set(expected)

    result = torchrun(cli, "scripts/test_sr.py", *args, "--out", tmp_path / "two")
    assert result.returncode == 0, result.stderr[-3000:]
    assert made(result.stdout) == {0: 3, 1: 3}, "6 images, each made once"
    assert files(tmp_path / "two") == expected


def test_test_sr_rerun_reuses_the_scores_of_the_images_a_failed_run_finished(models, tmp_path):
    from deflow.tools.test_sr import main

    lq = tmp_path / "lq"
    lq.mkdir()
    for path in sorted(models["lq"].iterdir()):
        (lq / path.name).write_bytes(path.read_bytes())
    args = ["--model_path", models["sr"], "--input", lq, "--gt", models["gt"], "--device", "cpu"]
    code, _, err = call_main(main, *args, "--out", tmp_path / "one")
    assert code == 0, err
    expected = files(tmp_path / "one")

    good = (lq / "img2.png").read_bytes()
    truncate(lq / "img2.png")
    code, out, err = call_main(main, *args, "--out", tmp_path / "again")
    assert code == 2 and "img2.png" in err and not (tmp_path / "again" / "metrics.csv").exists(), err
    (lq / "img2.png").write_bytes(good)
    code, out, err = call_main(main, *args, "--out", tmp_path / "again")
    assert code == 0, err
    assert re.search(r"^4 of 6 images made; 2 finished by an earlier run", out, re.M), out
    assert files(tmp_path / "again") == expected


def test_test_sr_list_scores_the_listed_images_in_its_order_as_the_folder_run_does(models, tmp_path):
    import csv

    from deflow.tools.test_sr import main

    args = ["--model_path", models["sr"], "--input", models["lq"], "--gt", models["gt"], "--device", "cpu"]
    assert call_main(main, *args, "--out", tmp_path / "all")[0] == 0
    listed = tmp_path / "list.txt"
    listed.write_text("img4.png\n\nimg1.png\n")
    code, _, err = call_main(main, *args, "--list", listed, "--out", tmp_path / "listed")
    assert code == 0, err
    rows = {row["name"]: row for row in csv.DictReader(open(tmp_path / "all" / "metrics.csv"))}
    assert list(csv.DictReader(open(tmp_path / "listed" / "metrics.csv")))[:2] == [rows["img4"], rows["img1"]]
    assert sorted(p.name for p in (tmp_path / "listed" / "sr").iterdir()) == ["img1.png", "img4.png"]
    assert (tmp_path / "listed" / "sr" / "img4.png").read_bytes() == (tmp_path / "all" / "sr" / "img4.png").read_bytes()

    listed.write_text("../lq/img0.png\n")
    code, _, err = call_main(main, *args, "--list", listed, "--out", tmp_path / "outside")
    assert code == 2 and "is not inside --input" in err and len(err.strip().splitlines()) == 1, err
