"""`python -m metrics`: tables and JSON for two folders; user mistakes are one `error:` line and exit 2."""
import json

import cv2
import pytest

from metrics.cli import main
from tests.metrics.photos import photo_pair


def write_folders(root, names=("a", "b"), size=(48, 64), gt_names=None, gt_size=None):
    pred_dir, gt_dir = root / "pred", root / "gt"
    pred_dir.mkdir(exist_ok=True)
    gt_dir.mkdir(exist_ok=True)
    for i, name in enumerate(names):
        gt, pred = photo_pair("astronaut", *size, seed=i)
        cv2.imwrite(str(pred_dir / f"{name}.png"), pred[:, :, ::-1])
    for i, name in enumerate(gt_names or names):
        gt, _ = photo_pair("astronaut", *(gt_size or size), seed=i)
        cv2.imwrite(str(gt_dir / f"{name}.jpg" if name == "b" else gt_dir / f"{name}.png"), gt[:, :, ::-1])
    return pred_dir, gt_dir


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def test_scores_folders_matched_by_stem_and_writes_json(tmp_path, capsys, no_cached_backbone):
    pred_dir, gt_dir = write_folders(tmp_path)
    out = tmp_path / "out" / "scores.json"
    assert main(["--pred", str(pred_dir), "--gt", str(gt_dir), "--crop-border", "2", "--json", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("preset rwsr_rgb:") and "crop border 2 px" in captured.out
    assert [line.split()[0] for line in captured.out.splitlines()[2:]] == ["a", "b", "mean"]
    assert captured.err.startswith("LPIPS unavailable: ")
    data = json.loads(out.read_text())
    assert data["preset"]["name"] == "rwsr_rgb" and data["preset"]["crop_border"] == 2
    assert [row["name"] for row in data["images"]] == ["a", "b"]
    assert data["images"][0]["lpips"] is None and "alexnet" in data["lpips_unavailable"]
    psnr = [row["psnr"] for row in data["images"]]
    assert abs(data["mean"]["psnr"] - sum(psnr) / 2) < 1e-9


def test_lpips_is_scored_with_a_backbone_file(tmp_path, capsys, alexnet_backbone):
    pred_dir, gt_dir = write_folders(tmp_path)
    args = ["--pred", str(pred_dir), "--gt", str(gt_dir), "--lpips-backbone", str(alexnet_backbone), "--require-lpips"]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and "n/a" not in captured.out


def test_require_lpips_without_backbone_exits_2(tmp_path, capsys, no_cached_backbone):
    pred_dir, gt_dir = write_folders(tmp_path)
    assert main(["--pred", str(pred_dir), "--gt", str(gt_dir), "--require-lpips"]) == 2
    assert "LPIPS unavailable" in one_error_line(capsys)


def test_mismatched_names_exit_2_naming_them(tmp_path, capsys):
    pred_dir, gt_dir = write_folders(tmp_path, names=("a", "b"), gt_names=("a", "c"))
    assert main(["--pred", str(pred_dir), "--gt", str(gt_dir)]) == 2
    line = one_error_line(capsys)
    assert "only in" in line and " b" in line and " c" in line


def test_mismatched_sizes_exit_2_naming_both_files(tmp_path, capsys):
    pred_dir, gt_dir = write_folders(tmp_path, names=("a",), size=(48, 64), gt_size=(40, 64))
    assert main(["--pred", str(pred_dir), "--gt", str(gt_dir)]) == 2
    line = one_error_line(capsys)
    assert str(pred_dir / "a.png") in line and str(gt_dir / "a.png") in line and "64x48" in line


@pytest.mark.parametrize("preset", ["basicsr_y", "nope"])
def test_missing_folder_and_unknown_preset(tmp_path, capsys, preset):
    pred_dir, _ = write_folders(tmp_path)
    if preset == "nope":
        with pytest.raises(SystemExit) as exit_info:  # argparse's choices: usage + one error line
            main(["--pred", str(pred_dir), "--gt", str(pred_dir), "--preset", preset])
        assert exit_info.value.code == 2
        return
    assert main(["--pred", str(pred_dir), "--gt", str(tmp_path / "missing"), "--preset", preset]) == 2
    assert "missing" in one_error_line(capsys)


def test_python_m_metrics_exits_2_without_traceback(tmp_path, cli):
    result = cli("-m", "metrics", "--pred", str(tmp_path / "nope"), "--gt", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"error: {tmp_path / 'nope'}: folder not found; check the path"]
