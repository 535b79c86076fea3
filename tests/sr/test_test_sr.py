"""scripts/test_sr.py: SR over a folder, tiled; CSV/JSON/HTML outputs; bad input ends in one line and exit 2."""
import csv
import json

import pytest
import torch
import torch.nn.functional as F

from deflow import checkpoint
from deflow.config import load_options
from skimage.metrics import peak_signal_noise_ratio

from deflow.imageio import read_image, to_uint8, write_image
from deflow.tools.sample_photos import photo
from deflow.trainer import train


@pytest.fixture
def sr_checkpoint(tiny_sr_config):
    root = train(load_options(tiny_sr_config, ["train.total_iter=2", "val.val_freq=null"]))
    return checkpoint.latest(root / "checkpoints")


@pytest.fixture
def lr_gt(tmp_path):
    for name, (h, w) in (("big", (150, 130)), ("small", (40, 36))):
        gt = photo("coffee")[:, 20:20 + h, 30:30 + w]
        write_image(tmp_path / "gt" / f"{name}.png", gt)
        write_image(tmp_path / "lr" / f"{name}.png", F.interpolate(gt[None], scale_factor=0.5, mode="area")[0])
    return tmp_path / "lr", tmp_path / "gt"


def test_scores_and_reports_with_tiles(cli, sr_checkpoint, lr_gt, tmp_path):
    lr, gt = lr_gt
    result = cli("scripts/test_sr.py", "--model_path", str(sr_checkpoint), "--input", str(lr), "--gt", str(gt),
                 "--out", str(tmp_path / "out"), "--tile", "32", "--device", "cpu")
    assert result.returncode == 0, result.stderr
    out = tmp_path / "out"
    assert read_image(out / "sr" / "big.png").shape == (3, 150, 130)  # from a 75x65 LR, larger than a tile
    rows = list(csv.DictReader(open(out / "metrics.csv")))
    assert [r["name"] for r in rows][:2] == ["big", "small"]
    sr8, gt8 = (to_uint8(read_image(p))[2:-2, 2:-2] for p in (out / "sr" / "small.png", gt / "small.png"))
    assert abs(float(rows[1]["psnr"]) - peak_signal_noise_ratio(gt8, sr8)) < 1e-3  # crop border = scale
    data = json.loads((out / "metrics.json").read_text())
    assert "rwsr_rgb" in json.dumps(data)
    html = (out / "report.html").read_text()
    assert "rwsr_rgb" in html and "big" in html and "<table" in html
    whole = cli("scripts/test_sr.py", "--model_path", str(sr_checkpoint), "--input", str(lr), "--out",
                str(tmp_path / "whole"), "--tile", "0", "--device", "cpu")
    assert whole.returncode == 0, whole.stderr
    a, b = read_image(out / "sr" / "big.png"), read_image(tmp_path / "whole" / "sr" / "big.png")
    assert 10 * torch.log10(1 / ((a - b) ** 2).mean()) > 35  # overlapping tiles ~ whole image


def test_without_gt_writes_images_and_report_only(cli, sr_checkpoint, lr_gt, tmp_path):
    lr, _ = lr_gt
    result = cli("scripts/test_sr.py", "--model_path", str(sr_checkpoint), "--input", str(lr), "--out",
                 str(tmp_path / "o"), "--device", "cpu")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "o" / "report.html").exists() and not (tmp_path / "o" / "metrics.csv").exists()


def test_bad_inputs_are_one_line_errors(cli, sr_checkpoint, lr_gt, tmp_path):
    lr, gt = lr_gt
    write_image(tmp_path / "gt_wrong" / "big.png", torch.rand(3, 20, 20))
    write_image(tmp_path / "gt_wrong" / "small.png", torch.rand(3, 80, 72))
    write_image(tmp_path / "gt_names" / "other.png", torch.rand(3, 20, 20))
    (tmp_path / "empty").mkdir()
    cases = [
        (["--input", str(tmp_path / "missing")], "folder not found"),
        (["--input", str(tmp_path / "empty")], "no images"),
        (["--input", str(lr), "--gt", str(tmp_path / "gt_names")], "file names differ"),
        (["--input", str(lr), "--gt", str(tmp_path / "gt_wrong")], "GT must be exactly 2x the LR image"),
    ]
    for args, message in cases:
        result = cli("scripts/test_sr.py", "--model_path", str(sr_checkpoint), *args, "--out", str(tmp_path / "x"))
        assert result.returncode == 2, result.stderr
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
