"""burst_sr.py on folders of frames, test_sr.py -opt on a classical config, and the hybrid through the one trainer."""
import json
from pathlib import Path

import torch

from deflow.config import load_options
from deflow.imageio import read_image, write_image
from deflow.trainer import train
from sr.multiframe import cli
from tests.conftest import call_main
from tests.sr.multiframe.bursts import camera_burst, write_tiny_burst_hybrid_config

ROOT = Path(__file__).resolve().parents[3]


def write_frames(folder: Path, frames: torch.Tensor) -> None:
    for k, frame in enumerate(frames):
        write_image(folder / f"frame{k:02d}.png", frame)


def test_burst_sr_fuses_a_folder_and_reports_each_frame(tmp_path):
    burst = camera_burst(4, 64)
    write_frames(tmp_path / "scene", burst.frames)
    code, out, err = call_main(cli.main, "--frames", tmp_path / "scene", "--out", tmp_path / "out", "--method", "saa",
                               "--device", "cpu")
    assert code == 0, err
    assert read_image(tmp_path / "out" / "scene.png").shape == burst.gt.shape
    frames = json.loads((tmp_path / "out" / "registration.json").read_text())["scene"]["frames"]
    assert [f["file"] for f in frames] == [f"frame{k:02d}.png" for k in range(4)] and all(f["kept"] for f in frames)


def test_frames_of_different_sizes_end_in_one_line_naming_the_file_and_sizes(tmp_path):
    write_frames(tmp_path / "scene", camera_burst(3, 64).frames)
    write_image(tmp_path / "scene" / "frame09.png", torch.rand(3, 30, 32))
    code, out, err = call_main(cli.main, "--frames", tmp_path / "scene", "--out", tmp_path / "out", "--method", "btv")
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: ")
    side = camera_burst(3, 64).frames.shape[-1]
    assert "frame09.png" in err and "32x30" in err and f"{side}x{side}" in err
    assert not (tmp_path / "out").exists()


def test_hybrid_needs_a_checkpoint(tmp_path):
    write_frames(tmp_path / "scene", camera_burst(2, 64).frames)
    code, _, err = call_main(cli.main, "--frames", tmp_path / "scene", "--out", tmp_path / "out", "--method", "hybrid")
    assert code == 2 and "--model_path" in err


def test_test_sr_evaluates_a_classical_config_without_a_checkpoint(tmp_path):
    from deflow.tools import test_sr

    for name, seed in (("a", 0), ("b", 1)):
        burst = camera_burst(4, 64, seed)
        write_frames(tmp_path / "bursts" / name, burst.frames)
        write_image(tmp_path / "gt" / f"{name}.png", burst.gt)
    code, out, err = call_main(test_sr.main, "-opt", ROOT / "confs/cpu/burst-saa-x2.yml", "--input", tmp_path / "bursts",
                               "--gt", tmp_path / "gt", "--out", tmp_path / "eval", "--device", "cpu", "--tile", "0")
    assert code == 0, err
    assert len(json.loads((tmp_path / "eval" / "metrics.json").read_text())["images"]) == 2


def test_the_hybrid_trains_through_the_trainer_and_its_checkpoint_serves_burst_sr(tmp_path):
    config = write_tiny_burst_hybrid_config(tmp_path)
    root = train(load_options(config))
    ckpt = root / "checkpoints" / "iter_00000004.pth"
    write_frames(tmp_path / "scenes" / "one", camera_burst(4, 64).frames)
    code, out, err = call_main(cli.main, "--frames", tmp_path / "scenes", "--out", tmp_path / "out", "--method",
                               "hybrid", "--model_path", ckpt, "--device", "cpu")
    assert code == 0, err
    assert (tmp_path / "out" / "one.png").exists() and (tmp_path / "out" / "one_confidence.png").exists()
