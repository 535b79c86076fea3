"""Report writers: CSV and JSON with the mean and the preset; HTML with images referenced inside out_dir."""
import csv
import json
import re

import torch

from deflow.imageio import read_image, write_image
from metrics import resolve_preset, score
from metrics.report import format_table, mean_row, rows_from_scores, write_csv, write_html_report, write_json
from tests.metrics.photos import photo_pair, to_tensor

ROWS = [
    {"name": "good", "psnr": 31.5, "ssim": 0.91, "lpips": 0.10},
    {"name": "bad", "psnr": 22.25, "ssim": 0.61, "lpips": None},
    {"name": "mid", "psnr": 27.0, "ssim": 0.80, "lpips": 0.20},
]
PRESET = resolve_preset("rwsr_rgb", scale=4)


def test_mean_row_is_none_for_a_metric_missing_anywhere():
    mean = mean_row(ROWS)
    assert mean["name"] == "mean" and abs(mean["psnr"] - (31.5 + 22.25 + 27.0) / 3) < 1e-12
    assert mean["lpips"] is None


def test_rows_from_scores_keeps_name_order_and_leaves_missing_lpips_none():
    gt, pred = photo_pair("coffee", 40, 50)
    batch = torch.stack([to_tensor(pred), to_tensor(gt)])
    rows = rows_from_scores(["x", "y"], score(batch, torch.stack([to_tensor(gt)] * 2), crop_border=0))
    assert [r["name"] for r in rows] == ["x", "y"] and rows[1]["psnr"] == float("inf") and rows[0]["lpips"] is None


def test_csv_and_json_carry_the_mean_and_the_preset(tmp_path):
    write_csv(tmp_path / "r.csv", ROWS, PRESET)
    lines = list(csv.DictReader((tmp_path / "r.csv").open()))
    assert [line["name"] for line in lines] == ["good", "bad", "mid", "mean"]
    assert lines[1]["lpips"] == "" and lines[0]["preset"] == "rwsr_rgb" and lines[0]["crop_border"] == "4"
    write_json(tmp_path / "r.json", ROWS + [{"name": "same", "psnr": float("inf"), "ssim": 1.0, "lpips": 0.0}],
               PRESET, lpips_note=None)
    data = json.loads((tmp_path / "r.json").read_text())  # strict JSON: inf is written as the string "inf"
    assert data["preset"]["name"] == "rwsr_rgb" and "crop border 4 px" in data["preset"]["description"]
    assert data["images"][3]["psnr"] == "inf" and data["mean"]["psnr"] == "inf"


def test_text_table_names_the_preset_first():
    text = format_table(ROWS, PRESET)
    assert text.splitlines()[0] == PRESET.describe()
    assert "n/a" in text.splitlines()[3] and text.splitlines()[-1].startswith("mean")


def test_html_report_orders_by_psnr_and_zooms_on_the_largest_error(tmp_path):
    gt = to_tensor(photo_pair("chelsea", 160, 200)[0])
    sr = gt.clone()
    sr[:, 100:130, 20:50] = 0  # the one damaged region
    lr = torch.nn.functional.avg_pool2d(gt[None], 4)[0]
    write_image(tmp_path / "out" / "sr" / "good.png", gt)
    images = {
        "bad": {"sr": sr, "lr": lr, "gt": gt},
        "good": {"sr": tmp_path / "out" / "sr" / "good.png"},  # already inside out_dir: referenced in place
    }
    page = write_html_report(tmp_path / "out", ROWS, PRESET, images, lpips_note="no backbone").read_text()
    assert PRESET.describe() in page and "LPIPS unavailable: no backbone" in page
    assert page.index(">bad<") < page.index(">mid<") < page.index(">good<")  # worst PSNR first
    sources = re.findall(r'<img [^>]*src="([^"]+)"', page)
    files = [s for s in sources if not s.startswith("data:image/png;base64,")]
    assert len(files) == len(sources) - 1  # plus the embedded plot
    assert "sr/good.png" in files and not any(s.startswith(("/", "file:")) for s in files)
    assert all((tmp_path / "out" / s).is_file() for s in files)
    zoom = read_image(tmp_path / "out" / next(s for s in files if s.endswith("bad_sr_zoom.png")))
    assert (zoom < 0.01).float().mean() > 0.09  # all of the 30x30 black patch is in the 96x96 region
    match = re.search(r"zoom: (\d+)x\d+ SR pixels at x=(\d+), y=(\d+)", page)
    size, x, y = map(int, match.groups())
    assert x <= 20 and x + size >= 50 and y <= 100 and y + size >= 130


def test_html_report_without_gt_has_no_plot_and_zooms_on_the_centre(tmp_path):
    sr = to_tensor(photo_pair("coffee", 120, 200)[0])
    rows = [{"name": "x", "psnr": None, "ssim": None, "lpips": None},
            {"name": "y", "psnr": None, "ssim": None, "lpips": None}]
    page = write_html_report(tmp_path, rows, PRESET, {"x": {"sr": sr, "lr": sr[:, ::4, ::4]}}).read_text()
    assert "data:image/png" not in page and page.count("n/a") >= 6
    assert "zoom: 96x96 SR pixels at x=52, y=12 (centre: no GT)" in page
