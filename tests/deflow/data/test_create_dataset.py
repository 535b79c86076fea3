import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from deflow.imageio import image_size, read_image, write_image
from deflow.tools.create_dataset import main

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def source(tmp_path, photo):
    folder = tmp_path / "source"
    write_image(folder / "astro.png", photo(75, 100))
    write_image(folder / "other.jpg", photo(40, 48, top=100, left=100))
    return folder


def run_script(*args):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "create_dataset.py"), *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=120)


def mtimes(folder: Path) -> dict:
    """Each file's (mtime, inode, ctime): a rewritten file takes its source's mtime and may reuse a freed inode, but
    its ctime (which no one can set) moves."""
    return {p.relative_to(folder): (p.stat().st_mtime_ns, p.stat().st_ino, p.stat().st_ctime_ns)
            for p in folder.rglob("*") if p.is_file()}


def test_writes_one_folder_per_scale_after_cropping_to_the_largest(tmp_path, source, photo, capsys):
    target = tmp_path / "out"
    main(["-source", str(source), "-target", str(target), "-scales", "1", "2", "4"])
    assert image_size(target / "1x" / "astro.png") == (72, 100)
    assert image_size(target / "2x" / "astro.png") == (36, 50)
    assert image_size(target / "4x" / "astro.png") == (18, 25)
    assert image_size(target / "4x" / "other.png") == (10, 12)
    assert torch.equal(read_image(target / "1x" / "astro.png"), photo(72, 100))  # top-left crop, lossless
    down = read_image(target / "4x" / "astro.png")
    assert abs(down.mean() - photo(72, 100).mean()) < 0.01
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("[1/2] astro.png") and out[-1].startswith("done: 6 files written, 0 skipped")


def test_multiple_crops_to_a_larger_multiple_so_a_later_factor_divides_the_scaled_images(tmp_path, source):
    target = tmp_path / "out"
    main(["-source", str(source), "-target", str(target), "-scales", "2", "-multiple", "8"])
    assert image_size(target / "2x" / "astro.png") == (36, 48)  # 72 x 96: its conditioning at factor 4 is exact
    assert image_size(target / "2x" / "other.png") == (20, 24)
    assert not (target / "1x").exists()


def test_second_run_skips_everything_and_a_deleted_output_is_rewritten_alone(tmp_path, source, capsys):
    target = tmp_path / "out"
    args = ["--source", str(source), "--target", str(target), "--scales", "1", "2", "4"]
    main(args)
    before = mtimes(target)
    capsys.readouterr()
    main(args)
    assert mtimes(target) == before
    assert capsys.readouterr().out.splitlines()[-1].startswith("done: 0 files written, 6 skipped")
    (target / "2x" / "other.png").unlink()
    main(args)
    after = mtimes(target)
    changed = {p for p in after if after[p] != before[p]}
    assert changed == {Path("2x/other.png")} and set(after) == set(before)
    assert capsys.readouterr().out.splitlines()[-1].startswith("done: 1 files written, 5 skipped")


@pytest.mark.parametrize("args, message", [
    (["-scales", "1", "0"], "-scales must be positive integers; got 0"),
    (["-target", "{source}/inner"], "is inside source"),
    (["--h", "bicubik"], "unknown domain-invariant function h 'bicubik'; known: additive_noise, bicubic_noise, "),
    (["-multiple", "6"], "-multiple 6: must be a multiple of every scale (1 4)"),
    (["-multiple", "0"], "-multiple 0: must be a multiple of every scale (1 4)"),
])
def test_bad_arguments_exit_2_with_one_line(tmp_path, source, capsys, args, message):
    argv = ["-source", str(source), "-target", str(tmp_path / "out"), "-scales", "1", "4"]
    argv += [a.format(source=source) for a in args]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_two_sources_with_the_same_stem_are_refused(tmp_path, source, photo, capsys):
    write_image(source / "astro.jpg", photo(16, 16))
    with pytest.raises(SystemExit):
        main(["-source", str(source), "-target", str(tmp_path / "out")])
    assert "astro.png" in capsys.readouterr().err


def test_script_on_an_empty_source_exits_2_with_one_error_line(tmp_path):
    (tmp_path / "empty").mkdir()
    result = run_script("-source", tmp_path / "empty", "-target", tmp_path / "out", "-scales", "1", "4")
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert "empty: no images" in result.stderr and "Traceback" not in result.stderr


def test_script_on_a_corrupt_image_names_it_and_keeps_finished_outputs(tmp_path, source):
    (source / "zz_broken.png").write_bytes(b"\x89PNG garbage" * 10)
    result = run_script("-source", source, "-target", tmp_path / "out", "-scales", "1", "4")
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "zz_broken.png: not a readable image" in result.stderr
    assert (tmp_path / "out" / "4x" / "astro.png").exists()
    assert not list((tmp_path / "out").rglob("*.part"))
