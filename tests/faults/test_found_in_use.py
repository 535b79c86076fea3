"""What a new user ran into (issue 17, section 2), each a check that fails without its fix: values out of range are
refused before any work, flags are checked, outputs land only when a command succeeds, and the smaller findings."""
import os
from pathlib import Path

import pytest
import torch

from deflow.imageio import read_image, write_image
from deflow.tools.bad_inputs import photo_like
from tests.conftest import call_main
from tests.faults.checks import assert_one_line_error

TRAIN, TEST_SR, TRANSLATE = "deflow.train", "deflow.tools.test_sr", "deflow.tools.translate"


def main_of(module: str):
    import importlib

    return importlib.import_module(module).main


def experiments_root(config: Path) -> Path:
    return config.parent / "exp"


@pytest.mark.parametrize(("override", "key"), [
    ("train.optim_g.lr=-1e-3", "train.optim_g.lr"),
    ("datasets.train.batch_size_per_gpu=0", "datasets.train.batch_size_per_gpu"),
    ("datasets.train.num_worker_per_gpu=-1", "datasets.train.num_worker_per_gpu"),
    ("logger.save_checkpoint_freq=0", "logger.save_checkpoint_freq"),
    ("logger.print_freq=0", "logger.print_freq"),
    ("train.scheduler.milestones=abc", "train.scheduler.milestones"),
    ("train.total_iter=-5", "train.total_iter"),
    ("train.total_iter=0", "train.total_iter"),
])
def test_an_out_of_range_option_is_one_line_before_any_work(tiny_sr_config, override, key):
    code, _, err = call_main(main_of(TRAIN), "-opt", tiny_sr_config, "--set", override)
    assert_one_line_error(code, err, key)
    assert not experiments_root(tiny_sr_config).exists()


def test_a_model_type_bounds_its_own_options_too(tiny_esrgan_config):
    code, _, err = call_main(main_of(TRAIN), "-opt", tiny_esrgan_config, "--set", "train.net_d_iters=0")
    assert_one_line_error(code, err, "train.net_d_iters")
    assert not experiments_root(tiny_esrgan_config).exists()


def test_num_gpu_without_cuda_is_refused_not_run_on_the_cpu(tiny_sr_config, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code, _, err = call_main(main_of(TRAIN), "-opt", tiny_sr_config, "--set", "num_gpu=1")
    assert_one_line_error(code, err, "num_gpu", "CUDA")
    assert not experiments_root(tiny_sr_config).exists()


def test_the_logged_lr_is_the_one_the_iteration_used(tiny_sr_config):
    code, out, err = call_main(main_of(TRAIN), "-opt", tiny_sr_config, "--set", "logger.print_freq=1",
                               "--set", "train.total_iter=2", "--set", "val.val_freq=null")
    assert code == 0, err
    assert "iter 1  lr 5.000e-04" in out and "iter 2  lr 1.000e-03" in out, out  # warm-up over 2 iterations


def test_each_trained_network_logs_its_own_lr(toy_two_stage_config):
    import re

    from deflow.config import load_options
    from deflow.trainer import train

    root = train(load_options(toy_two_stage_config, ["logger.print_freq=1", "train.total_iter=3"]))
    lines = [line for line in (root / "train.log").read_text().splitlines() if " INFO iter " in line]
    rates = [dict(re.findall(r"lr_(\w) (\S+)", line)) for line in lines]
    # g: StepLR(step 2, gamma 0.5); d: its own StepLR(step 1, gamma 0.9), both stepped after every iteration
    assert [r["g"] for r in rates] == ["1.000e-02", "1.000e-02", "5.000e-03"], lines
    assert [r["d"] for r in rates] == ["1.000e-02", "9.000e-03", "8.100e-03"], lines


def test_the_final_message_names_only_folders_that_exist(tiny_sr_config):
    code, out, err = call_main(main_of(TRAIN), "-opt", tiny_sr_config, "--set", "train.total_iter=1",
                               "--set", "val.val_freq=null")
    assert code == 0, err
    final = out.strip().splitlines()[-1]
    assert final.startswith("outputs:") and "tensorboard" not in final and "/tb" not in final, final


def runs(models: dict, corpus: dict) -> dict:
    """{command: argv(output folder)} of each command on the good images."""
    good = corpus["good"]
    return {
        TEST_SR: lambda out: ["--model_path", models["sr"], "--input", good / "lq", "--device", "cpu", "--out", out],
        TRANSLATE: lambda out: ["--model_path", models["deflow"], "--source_dir", good / "gt", "--device", "cpu",
                                "--out_dir", out],
        "degradations.cli": lambda out: ["--pipeline", "white_noise", "--input", good / "gt", "--scale", "2",
                                         "--out", out],
        "metrics.realism.cli": lambda out: ["--real", good / "gt", "--synthetic", good / "gt", "--patches", "8",
                                            "--patch-size", "8", "--steps", "2", "--out", out],
        "deflow.tools.create_dataset": lambda out: ["-source", good / "gt", "-scales", "1", "2", "-target", out],
        TRAIN: lambda out: ["-opt", models["sr_config"], "--set", f"path.experiments_root={out}",
                            "--set", "train.total_iter=1", "--set", "val.val_freq=null"],
    }


@pytest.mark.parametrize("command", [TEST_SR, TRANSLATE])
@pytest.mark.parametrize("tile", ["-5", "1", "3"])
def test_a_tile_that_cannot_tile_is_one_line(models, corpus, tmp_path, command, tile):
    code, _, err = call_main(main_of(command), *runs(models, corpus)[command](tmp_path / "out"), "--tile", tile)
    assert_one_line_error(code, err, f"--tile {tile}")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", [TEST_SR, TRANSLATE, "degradations.cli"])
def test_an_unknown_device_is_one_line(models, corpus, tmp_path, command):
    code, _, err = call_main(main_of(command), *runs(models, corpus)[command](tmp_path / "out"), "--device", "foo")
    assert_one_line_error(code, err, "--device foo")


def test_metrics_with_an_unknown_device_or_a_folder_as_json_file_is_one_line(corpus, tmp_path):
    good = corpus["good"]
    args = ["--pred", good / "pred", "--gt", good / "gt"]
    code, _, err = call_main(main_of("metrics.cli"), *args, "--device", "foo")
    assert_one_line_error(code, err, "--device foo")
    code, out, err = call_main(main_of("metrics.cli"), *args, "--device", "cpu", "--json", tmp_path)
    assert_one_line_error(code, err, "--json", str(tmp_path))
    assert not out, "checked before any work"


def test_degrade_scale_zero_is_one_line(models, corpus, tmp_path):
    code, _, err = call_main(main_of("degradations.cli"), *runs(models, corpus)["degradations.cli"](tmp_path / "out"),
                             "--scale", "0")
    assert_one_line_error(code, err, "--scale 0")


COMMANDS_WITH_OUTPUT_FOLDERS = [TEST_SR, TRANSLATE, "degradations.cli", "metrics.realism.cli",
                                "deflow.tools.create_dataset", TRAIN]


@pytest.mark.parametrize("command", COMMANDS_WITH_OUTPUT_FOLDERS)
def test_an_output_folder_that_is_a_file_is_one_line_and_the_file_is_kept(models, corpus, tmp_path, command):
    existing = tmp_path / "notes.txt"
    existing.write_text("mine")
    code, _, err = call_main(main_of(command), *runs(models, corpus)[command](existing))
    assert_one_line_error(code, err, str(existing), "is a file")
    assert existing.read_text() == "mine"


@pytest.fixture
def read_only_folder(tmp_path) -> Path:
    """A folder this process cannot create anything in: chmod 555, or for root (whom chmod does not stop) /sys."""
    if os.geteuid() != 0:
        folder = tmp_path / "read_only"
        folder.mkdir(mode=0o555)
        return folder
    try:
        (Path("/sys") / "deflow_probe").mkdir()
    except OSError:
        return Path("/sys")
    pytest.skip("running as root, and no read-only folder to write into was found")


@pytest.mark.parametrize("command", COMMANDS_WITH_OUTPUT_FOLDERS)
def test_an_output_folder_that_cannot_be_created_is_one_line(models, corpus, tmp_path, read_only_folder, command):
    code, _, err = call_main(main_of(command), *runs(models, corpus)[command](read_only_folder / "out"))
    assert_one_line_error(code, err, str(read_only_folder / "out"))


def test_crop_border_larger_than_the_images_writes_nothing(models, corpus, tmp_path):
    good = corpus["good"]
    code, _, err = call_main(main_of(TEST_SR), "--model_path", models["sr"], "--input", good / "lq", "--gt",
                             good / "gt", "--out", tmp_path / "out", "--device", "cpu", "--crop-border", "100")
    assert_one_line_error(code, err, "--crop-border 100")
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_test_sr_names_its_own_flags_when_names_differ(models, corpus, tmp_path):
    case = corpus["names_mismatch"]
    code, _, err = call_main(main_of(TEST_SR), "--model_path", models["sr"], "--input", case / "lq", "--gt",
                             case / "gt", "--out", tmp_path / "out", "--device", "cpu")
    line = assert_one_line_error(code, err, "--input", "--gt")
    assert "--pred" not in line


def test_create_dataset_writes_again_what_a_changed_source_makes(tmp_path):
    from deflow.tools.create_dataset import main

    source = tmp_path / "photos" / "a.png"
    write_image(source, torch.from_numpy(photo_like(32, 32, seed=1)).permute(2, 0, 1) / 255)
    assert call_main(main, "-source", source.parent, "-target", tmp_path / "data", "-scales", "1", "2")[0] == 0
    changed = torch.from_numpy(photo_like(32, 32, seed=2)).permute(2, 0, 1) / 255
    write_image(source, changed)
    later = source.stat().st_mtime_ns + 1_000_000_000
    os.utime(source, ns=(later, later))  # edited a second later
    code, out, err = call_main(main, "-source", source.parent, "-target", tmp_path / "data", "-scales", "1", "2")
    assert code == 0, err
    assert torch.equal(read_image(tmp_path / "data" / "1x" / "a.png"), read_image(source)), out
    code, out, _ = call_main(main, "-source", source.parent, "-target", tmp_path / "data", "-scales", "1", "2")
    assert "2 skipped" in out, "an unchanged source is still skipped"


def test_a_file_the_system_refuses_to_read_is_named_as_such_not_as_corrupt(tmp_path, monkeypatch):
    path = tmp_path / "locked.png"
    write_image(path, torch.rand(3, 8, 8))
    if os.geteuid() != 0:
        path.chmod(0)
    else:  # root reads any file: the system's refusal is simulated
        real_open = open

        def refusing_open(file, *args, **kwargs):
            if Path(file) == path:
                raise PermissionError(13, "Permission denied", str(file))
            return real_open(file, *args, **kwargs)
        monkeypatch.setattr("builtins.open", refusing_open)
    from deflow.errors import UserError

    with pytest.raises(UserError, match="permission denied") as caught:
        read_image(path)
    assert "corrupt" not in str(caught.value) and str(path) in str(caught.value)


def test_a_killed_runs_hidden_folder_is_removed_by_the_next_run(models, corpus, tmp_path):
    from deflow.outputs import staged_folder

    out = tmp_path / "out"
    abandoned = out / ".partial-999999999-x"  # no such process
    abandoned.mkdir(parents=True)
    (abandoned / "half.png").write_bytes(b"")
    alive = out / f".partial-{os.getpid()}-y"  # a run still going (this process) keeps its folder
    alive.mkdir()
    with staged_folder(out, "--out") as stage:
        (stage / "done.png").write_bytes(b"x")
    assert sorted(p.name for p in out.iterdir()) == [alive.name, "done.png"]
