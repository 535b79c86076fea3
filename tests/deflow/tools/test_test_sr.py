"""scripts/test_sr.py: SR over a folder, tiled; CSV/JSON/HTML outputs; bad input ends in one line and exit 2."""
import csv
import json
import re

import pytest
import torch
import torch.nn.functional as F
from skimage.metrics import peak_signal_noise_ratio

from deflow import checkpoint
from deflow.config import load_options
from deflow.imageio import read_image, to_uint8, write_image
from deflow.tools.sample_photos import photo
from deflow.trainer import train
from degradations.resize import imresize


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


def test_scores_and_reports_with_tiles(cli, main_in_process, sr_checkpoint, lr_gt, tmp_path):
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
    from piq import haarpsi  # the offline perceptual metric, as its library computes it on the same crop
    expected = haarpsi(torch.from_numpy(sr8).permute(2, 0, 1)[None].double() / 255,
                       torch.from_numpy(gt8).permute(2, 0, 1)[None].double() / 255, data_range=1.0)
    assert float(rows[1]["haarpsi"]) == pytest.approx(float(expected), abs=1e-4)
    data = json.loads((out / "metrics.json").read_text())
    assert "rwsr_rgb" in json.dumps(data)
    html = (out / "report.html").read_text()
    assert "rwsr_rgb" in html and "big" in html and "<table" in html
    from deflow.tools.test_sr import main

    code, _, err = main_in_process(main, "--model_path", sr_checkpoint, "--input", lr, "--out", tmp_path / "whole",
                                   "--tile", "0", "--device", "cpu")
    assert code == 0, err
    a, b = read_image(out / "sr" / "big.png"), read_image(tmp_path / "whole" / "sr" / "big.png")
    assert 10 * torch.log10(1 / ((a - b) ** 2).mean()) > 35  # overlapping tiles ~ whole image


def test_without_gt_writes_images_and_report_only(main_in_process, sr_checkpoint, lr_gt, tmp_path):
    from deflow.tools.test_sr import main

    lr, _ = lr_gt
    code, _, err = main_in_process(main, "--model_path", sr_checkpoint, "--input", lr, "--out", tmp_path / "o",
                                   "--device", "cpu")
    assert code == 0, err
    assert (tmp_path / "o" / "report.html").exists() and not (tmp_path / "o" / "metrics.csv").exists()


def test_bad_inputs_are_one_line_errors(main_in_process, sr_checkpoint, lr_gt, tmp_path):
    from deflow.tools.test_sr import main

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
        (["--input", str(lr), "--compare", "stage1"], "expected LABEL=DIR"),
        (["--input", str(lr), "--compare", f"bicubic={lr}"], "the label 'bicubic' is taken"),
        (["--input", str(lr), "--compare", f"a={tmp_path / 'missing'}"], "not found"),
        (["--input", str(lr), "--compare", f"a={tmp_path / 'gt_names'}"], "no image named big"),
        (["--input", str(lr), "--compare", f"a={tmp_path / 'gt_wrong'}"], "not 2x"),
    ]
    for args, message in cases:
        code, _, err = main_in_process(main, "--model_path", sr_checkpoint, *args, "--out", tmp_path / "x")
        assert code == 2, err
        assert message in err and len(err.strip().splitlines()) == 1, err


def test_the_report_shows_bicubic_and_compared_results_beside_the_sr(main_in_process, sr_checkpoint, lr_gt, tmp_path):
    from deflow.tools.test_sr import main

    lr, gt = lr_gt
    code, _, err = main_in_process(main, "--model_path", sr_checkpoint, "--input", lr, "--gt", gt, "--out",
                                   tmp_path / "first", "--device", "cpu")
    assert code == 0, err
    code, _, err = main_in_process(main, "--model_path", sr_checkpoint, "--input", lr, "--gt", gt, "--out",
                                   tmp_path / "second", "--device", "cpu", "--compare", f"stage 1={tmp_path / 'first'}")
    assert code == 0, err
    page = (tmp_path / "second" / "report.html").read_text()
    captions = re.findall(r"<figcaption>([^<]+)</figcaption>", page)
    assert captions[:5] == ["LR 65x75", "bicubic 130x150", "stage 1 130x150", "SR 130x150", "GT 130x150"]
    files = tmp_path / "second" / "report_files"
    bicubic = read_image(next(files.glob("*big_bicubic.png")))
    expected = imresize(read_image(lr / "big.png")[None], scale=2)[0].clamp(0, 1)
    assert (bicubic - expected).abs().max() <= 1 / 255 + 1e-6  # the LR upsampled by MATLAB's bicubic, 8-bit rounded
    assert "stage_1" in " ".join(p.name for p in files.iterdir())
