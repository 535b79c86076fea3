"""`python -m metrics.realism`: JSON, HTML and figures for small noisy photo sets; mistakes exit 2 with one line."""
import json

import pytest
import torch

from deflow.imageio import read_image, write_image
from deflow.tools.sample_photos import photo
from metrics.realism.cli import main
from metrics.realism.page import flat_crop

SIGMA_REAL = 12.0  # 8-bit units
SOURCES = {"astronaut": (300, 60), "coffee": (20, 300), "chelsea": (20, 20)}  # name: (top, left) of a 64 px crop


def clean_crops(size: int = 64) -> dict[str, torch.Tensor]:
    return {name: photo(name)[:, top:top + size, left:left + size] for name, (top, left) in SOURCES.items()}


def write_set(folder, clean: dict, sigma: float, seed: int) -> None:
    """The clean crops plus Gaussian noise of `sigma` (8-bit units), as 8-bit PNGs named after the photos."""
    generator = torch.Generator().manual_seed(seed)
    for name, img in clean.items():
        write_image(folder / f"{name}.png", img + sigma / 255 * torch.randn(img.shape, generator=generator))


@pytest.fixture
def folders(tmp_path):
    clean = clean_crops()
    for name, img in clean.items():
        write_image(tmp_path / "clean" / f"{name}.png", img)
    write_set(tmp_path / "real", clean, SIGMA_REAL, seed=0)
    write_set(tmp_path / "right", clean, SIGMA_REAL, seed=1)
    write_set(tmp_path / "wrong", clean, SIGMA_REAL / 3, seed=2)
    return tmp_path


FAST = ("--patches", 48, "--patch-size", 16, "--steps", 10)


def test_writes_json_html_and_figures_and_ranks_the_right_noise_first(folders, main_in_process):
    out = folders / "out"
    code, stdout, stderr = main_in_process(main, "--real", folders / "real", "--synthetic", folders / "right",
                                           "--synthetic", folders / "wrong", "--clean", folders / "clean",
                                           "--out", out, *FAST)
    assert code == 0, stderr
    data = json.loads((out / "realism.json").read_text())
    assert data["settings"]["patches"] == 48 and data["settings"]["steps"] == 10
    assert {"nlf", "spectrum", "images"} <= data["real"].keys()
    right, wrong = data["synthetic"]
    assert [right["name"], wrong["name"]] == ["right", "wrong"]
    for s in (right, wrong):
        assert {"c2st_accuracy", "nlf_distance_8bit", "spectrum_distance_log10", "akld", "nlf", "spectrum"} <= s.keys()
        assert 0.0 <= s["c2st_accuracy"] <= 1.0 and len(s["nlf"]["std_8bit"]) == 3
    assert right["nlf_distance_8bit"] < wrong["nlf_distance_8bit"]
    assert right["akld"] < wrong["akld"]
    assert right["spectrum_distance_log10"] < wrong["spectrum_distance_log10"]
    page = (out / "realism.html").read_text()
    assert "realism_nlf.png" in page and "realism_spectrum.png" in page and "AKLD" in page
    for png in ("realism_nlf.png", "realism_spectrum.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [page.index(f"{name}: flat 48 px crops") for name in ("real", "right", "wrong")] == sorted(
        page.index(f"{name}: flat 48 px crops") for name in ("real", "right", "wrong"))
    strip = read_image(out / "crops_0.png")  # the real set's three crops, 4 px gaps, enlarged x3
    assert strip.shape == (3, 48 * 3, (3 * 48 + 2 * 4) * 3)


def test_a_flat_crop_is_taken_where_the_content_is_flat():
    image = photo("astronaut")[:, :160, :160].clone()
    image[:, 100:160, 20:80] = 0.5 + 0.02 * torch.randn(3, 60, 60, generator=torch.Generator().manual_seed(0))
    crop = flat_crop(image)
    assert crop.shape == (3, 48, 48)
    assert (crop - 0.5).abs().mean() < 0.03  # inside the planted flat grey square


def test_without_clean_there_is_no_akld(folders, main_in_process):
    code, _, stderr = main_in_process(main, "--real", folders / "real", "--synthetic", folders / "wrong",
                                      "--out", folders / "out", *FAST)
    assert code == 0, stderr
    assert json.loads((folders / "out" / "realism.json").read_text())["synthetic"][0]["akld"] is None


def one_error_line(result) -> str:
    code, _, stderr = result
    lines = stderr.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), (code, stderr)
    return lines[0]


def test_empty_folder_is_one_error_line(folders, main_in_process):
    (folders / "empty").mkdir()
    line = one_error_line(main_in_process(main, "--real", folders / "real", "--synthetic", folders / "empty",
                                          "--out", folders / "out", *FAST))
    assert "empty" in line and "no images" in line


def test_names_that_do_not_match_clean_are_one_error_line(folders, main_in_process):
    (folders / "wrong" / "chelsea.png").rename(folders / "wrong" / "cat.png")
    line = one_error_line(main_in_process(main, "--real", folders / "real", "--synthetic", folders / "wrong",
                                          "--clean", folders / "clean", "--out", folders / "out", *FAST))
    assert "'cat'" in line and "same file names" in line


def test_too_small_images_and_out_equal_to_an_input_are_errors(folders, main_in_process):
    line = one_error_line(main_in_process(main, "--real", folders / "real", "--synthetic", folders / "right",
                                          "--out", folders / "out", "--patch-size", 65))
    assert "smaller than the C2ST patch" in line
    line = one_error_line(main_in_process(main, "--real", folders / "real", "--synthetic", folders / "right",
                                          "--out", folders / "right"))
    assert "input folder" in line
