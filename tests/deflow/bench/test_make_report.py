"""scripts/make_report.py: docs/report.md from result files only. It refuses to write when a result file is missing
(one line naming the file and its command, exit 2, the old report untouched), and every number it prints is one of
its sources' numbers at the printed precision, checked here by a parser written independently of the report code."""
import itertools
import json
import random
import re
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from deflow.bench import make_report
from deflow.bench.benchmark import Budget
from deflow.bench.make_report import INPUTS, main, method_key
from deflow.bench.report_figures import bench_figures
from deflow.errors import UserError
from deflow.imageio import write_image

REPO = Path(__file__).resolve().parents[3]
METHODS = ("bicubic", "pg_fit", "deflow", "oracle")
ARMS = ("deflow_plain", "deflow_noise_floor", "deflow_no_pick")
ARM_RUNS = (ARMS[:2], (ARMS[0], ARMS[2]))  # the arms of each ablation run: deflow_plain in both
TEST, CLEAN = ("p_one", "p_two"), ("c_one",)
SETTINGS = {"split": {"real": ["r_one"], "test": list(TEST), "clean": list(CLEAN)},
            "camera": {"scale": 2, "blur_sigma": 0.61, "photons": 41.5, "read_std": 0.0213, "isp": "chen_phone",
                       "jpeg_quality": 91, "jpeg_subsampling": "420"},
            "camera_seed": 1003, "sr_config": "sr.yml", "sr_iters": 23, "deflow_config": "deflow.yml",
            "deflow_iters": 37, "deflow_seeds": 1, "deflow_heat": "1.0", "deflow_candidates": 2,
            "deflow_picks": {"deflow_it37_pick2_floor group 0": {"nlf_distance_8bit": {"0": 1.6875, "1": 2.3125},
                                                                 "chosen": 0}},
            "seeds": [0, 1],
            "c2st": {"patches_per_class": 117, "patch": 29, "steps": 31}}


# ------------------------------------------------------------------ fixtures: result files shaped as their writers do

def stat(rng: random.Random, low: float, high: float, n: int = 3) -> dict:
    values = [rng.uniform(low, high) for _ in range(n)]
    return {"mean": statistics.mean(values), "std": statistics.stdev(values), "n": n, "values": values}


def fixed(mean: float, std: float = 0.01) -> dict:
    values = [mean - std, mean, mean + std]
    return {"mean": statistics.mean(values), "std": statistics.stdev(values), "n": 3, "values": values}


def run_info(command: str) -> dict:
    return {"command": command, "date": "2026-12-02T10:11:12+00:00", "wall_seconds": 1234.567,
            "machine": "test box (x86_64, 3 CPU cores)"}


def noise_image(seed: int, side: int) -> torch.Tensor:
    return torch.rand(3, side, side, generator=torch.Generator().manual_seed(seed))


def scores(rng: random.Random, methods) -> dict:
    """The benchmark's summary of `methods`."""
    return {m: {"psnr": stat(rng, 20, 25), "ssim": stat(rng, 0.4, 0.7), "lpips": None,
                "c2st_vs_camera": stat(rng, 0.5, 1), "c2st_vs_real_domain": stat(rng, 0.5, 1),
                "akld_vs_camera": stat(rng, 0.05, 0.8), "nlf_distance_8bit": stat(rng, 1, 20),
                "lr_noise_std_8bit": stat(rng, 2, 25), "gap_closed_psnr": stat(rng, 0, 1),
                "gap_closed_ssim": stat(rng, 0, 1), "psnr_per_image": {p: rng.uniform(20, 25) for p in TEST}}
            for m in methods}


def write_bench(folder: Path, rng: random.Random) -> None:
    runs, s = folder / "runs", SETTINGS
    keys = {m: method_key(s, m) for m in METHODS}
    summary = scores(rng, METHODS)
    write_runs(runs, keys)
    command = "python scripts/benchmark.py --out fake-bench"
    figures = bench_figures(folder, s["split"], keys, list(METHODS), BUDGET, command)
    results = {"run": {"mode": "full", **run_info(command)},
               "partial": False, "settings": s, "lpips_unavailable": "no weights here",
               "oracle_minus_bicubic_psnr": stat(rng, 2, 3), "summary": summary, "ablation": list(ARMS),
               "realism_page": "realism/realism.html", "figures": figures, "runs": []}
    (folder / "results.json").write_text(json.dumps(results))
    realism = folder / "realism"
    synthetic = [{"name": keys[m], "folder": str(runs / "lr" / keys[m] / "seed0")} for m in METHODS]
    (realism / "x").mkdir(parents=True)
    (realism / "realism.json").write_text(json.dumps({"settings": {"real": str(runs / "lr/camera_reference")},
                                                      "synthetic": synthetic}))
    for i in range(len(synthetic) + 1):
        write_image(realism / f"crops_{i}.png", noise_image(300 + i, 8))
    for name in ("realism_nlf.png", "realism_spectrum.png"):
        write_image(realism / name, noise_image(400, 8))


def write_arms(folder: Path, rng: random.Random, arms: tuple[str, ...]) -> None:
    """A benchmark run of some of DeFlow's ablation arms with the references they are compared with."""
    results = {"run": {"mode": "full", **run_info(f"python scripts/benchmark.py --out fake-bench --methods "
                                                    f"deflow {' '.join(arms)}")},
               "partial": False, "settings": SETTINGS, "summary": scores(rng, ("bicubic", "deflow") + arms),
               "ablation": list(ARMS)}
    (folder / "results.json").write_text(json.dumps(results))


BUDGET = Budget(SETTINGS["deflow_iters"], SETTINGS["sr_iters"], tuple(SETTINGS["seeds"]), 117, 31)


def write_runs(runs: Path, keys: dict[str, str]) -> None:
    """The images and logs of BENCH/runs/ that the benchmark's figures read."""
    s = SETTINGS
    for i, name in enumerate(TEST):
        write_image(runs / "photos/test" / f"{name}.png", noise_image(i, 40))
        write_image(runs / "lr/test" / f"{name}.png", noise_image(10 + i, 20))
        for j, m in enumerate(METHODS):
            write_image(runs / "eval" / keys[m] / f"seed0_it{s['sr_iters']}" / "sr" / f"{name}.png",
                        noise_image(100 + 10 * i + j, 40))
    for i, name in enumerate(CLEAN):
        for folder_name in ("lr/bicubic", f"lr/{keys['deflow']}/seed0", "lr/camera_reference"):
            write_image(runs / folder_name / f"{name}.png", noise_image(200 + i, 24))
    for m in METHODS:
        log = runs / "sr" / keys[m] / f"seed0_it{s['sr_iters']}" / "train.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text("".join(f"2026-12-02 10:00:00 INFO iter {k}  lr 1.000e-04  l_pix {0.1 / k:.5f}\n"
                               for k in (10, 20)))
    log = runs / "deflow" / f"it{s['deflow_iters']}" / "train.log"
    log.parent.mkdir(parents=True)
    log.write_text("2026-12-02 10:00:00 INFO iter 10  lr 5.000e-04  nll 3.123\n")


H_ROWS = {  # h: (PSNR mean, h gap, NLF distance mean); bicubic_noise is the paper's h
    "bicubic_noise": (22.1234, 0.5, 3.0), "median_denoise": (22.9876, 0.2, 2.0),
    "maxpool_noise": (21.4321, 0.9, 6.0), "dae": (22.1301, 0.3, 2.5), "chroma_blur_noise": (22.5, 0.4, 2.2)}


def write_h(folder: Path, rng: random.Random, rows: dict = H_ROWS, seeds: int = 3) -> None:
    """h_ablation.json as scripts/ablate.py writes it; with one seed every stat has no std."""
    def one(s: dict) -> dict:
        return s if seeds > 1 else {"mean": s["values"][0], "std": None, "n": 1, "values": s["values"][:1]}

    data = {"run": run_info("python scripts/ablate.py --out fake-ablation --seeds 0 1 2"),
            "settings": {"seeds": [0, 1, 2], "deflow_iters": 37, "sr_iters": 23},
            "reference": {"bicubic": {"psnr": stat(rng, 20, 21), "ssim": stat(rng, 0.4, 0.5)},
                          "oracle": {"psnr": stat(rng, 24, 25), "ssim": stat(rng, 0.6, 0.7)}},
            "rows": [{"h": h, "section": {"type": h, "noise_std": 0.0317}, "what": f"{h} removes this, keeps that",
                      "psnr": one(fixed(psnr)), "ssim": one(stat(rng, 0.5, 0.6)),
                      "gap_closed_psnr": one(stat(rng, 0, 1)), "gap_closed_ssim": one(stat(rng, 0, 1)),
                      "akld_vs_camera": one(stat(rng, 0.05, 0.5)), "nlf_distance_8bit": one(fixed(nlf)),
                      "nll_clean": rng.uniform(1, 3), "nll_degraded": rng.uniform(1, 3),
                      "nll_units": "bits per dimension", "h_gap": gap, "h_gap_units": "8-bit RMS",
                      "deflow_train_seconds": rng.uniform(50, 500)}
                     for h, (psnr, gap, nlf) in rows.items()],
            "figure": "figures/h_crops.png"}
    (folder / "h_ablation.json").write_text(json.dumps(data))
    write_image(folder / "figures/h_crops.png", noise_image(500, 8))


def write_finetune(folder: Path, rng: random.Random) -> None:
    data = {"run": run_info("python scripts/finetune_protocol.py --out fake-finetune"),
            "settings": {"camera_a": {"blur_sigma": 0.61, "photons": 41.5}, "camera_b": {"blur_sigma": 0.93,
                                                                                        "photons": 17.25},
                         "frames": 120, "frame_size": 256, "deflow_iters": 37, "sr_iters": 23,
                         "bench": "fake-bench", "photos": ["p_one", "p_two"]},
            "arms": [{"arm": arm, "what": f"the {arm} arm", "psnr": stat(rng, 20, 25), "ssim": stat(rng, 0.4, 0.7),
                      "lpips": None, "seconds": rng.uniform(10, 900)}
                     for arm in ("no_adaptation", "scratch", "finetune")]}
    (folder / "finetune.json").write_text(json.dumps(data))


def write_incidents(folder: Path, rng: random.Random) -> None:
    data = {"run": run_info("python scripts/training_incidents.py --out fake-incidents"),
            "incidents": [{"name": "a shift that does not learn at A = 0",
                           "what_happened": "A's gradient is exactly zero at A = 0", "what_the_framework_does":
                           "starts A at std_init_shift I", "code": "deflow/flow/shift.py",
                           "evidence": {"grad_norm_at_zero": 0.0, "grad_norm_at_init": rng.uniform(1e-5, 1e-4),
                                        "iterations": 47}},
                          {"name": "non-finite losses", "what_happened": "a NaN loss at iteration 13",
                           "what_the_framework_does": "skips the iteration", "code": "deflow/trainer.py",
                           "evidence": {"skipped": 3, "loss_before": rng.uniform(1, 2),
                                        "loss_per_iteration": [rng.uniform(1, 2) for _ in range(9)],
                                        "log_lines": ["iteration 13: non-finite loss l_pix, step skipped"]}}]}
    (folder / "incidents.json").write_text(json.dumps(data))


def write_burst(folder: Path, rng: random.Random) -> None:
    """As sr/multiframe/bench.py's write_outputs: scores and seconds per method (and frames), no run record."""
    keys = ["bicubic", "single-frame SR"] + [f"{m}@{k}" for k in (1, 4, 8) for m in ("saa", "ibp", "btv", "hybrid")]
    data = {"scores": {key: [{"name": f"p_one_{c}", "psnr": rng.uniform(19, 27), "ssim": rng.uniform(0.3, 0.7)}
                             for c in range(2)] for key in keys},
            "seconds": {key: [rng.uniform(0, 2) for _ in range(2)] for key in keys},
            "registration_error_px": [rng.uniform(0.05, 0.2) for _ in range(2)],
            "corrupted": {f"{m} noise frame {label}": [rng.uniform(19, 26) for _ in range(2)]
                          for m in ("saa", "btv") for label in ("rejected", "kept")}}
    (folder / "results.json").write_text(json.dumps(data))


@pytest.fixture
def inputs(tmp_path) -> dict[str, Path]:
    rng = random.Random(7)
    folders = {spec.flag: [tmp_path / f"{spec.flag}{i}" for i in range(len(ARM_RUNS))] if spec.many else
               tmp_path / spec.flag for spec in INPUTS}
    for folder in (f for v in folders.values() for f in (v if isinstance(v, list) else [v])):
        folder.mkdir()
    write_bench(folders["bench"], rng)
    for folder, arms in zip(folders["arms"], ARM_RUNS):
        write_arms(folder, rng, arms)
    write_h(folders["ablation"], rng)
    write_finetune(folders["finetune"], rng)
    write_incidents(folders["incidents"], rng)
    write_burst(folders["burst"], rng)
    return folders


def argv(folders: dict[str, Path | list[Path]], out: Path) -> list[str]:
    return [arg for flag, folder in folders.items()
            for arg in (f"--{flag}", *map(str, folder if isinstance(folder, list) else [folder]))] + ["--out", str(out)]


@pytest.fixture
def old_docs(tmp_path) -> Path:
    """A docs folder holding an earlier report and figure."""
    out = tmp_path / "docs"
    (out / "figures").mkdir(parents=True)
    (out / "report.md").write_text("the earlier report\n")
    (out / "figures/old.png").write_bytes(b"earlier figure")
    return out


def assert_untouched(out: Path) -> None:
    assert (out / "report.md").read_text() == "the earlier report\n"
    assert sorted(p.name for p in out.rglob("*")) == ["figures", "old.png", "report.md"]  # no stage left behind


# ------------------------------------------------------------------ the numbers check, independent of the report code

FENCE = re.compile(r"^```(\w*)\s*$")
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK_TARGET = re.compile(r"\]\([^)\s]*\)")
NUMBER = re.compile(r"(?<![A-Za-z_\d.])([+-]?)(\d+(?:\.\d+)?)(?![A-Za-z_\d]|\.\d)(\s*±\s*\d+(?:\.\d+)?)?(\s?%)?")
NUMBER_IN_TEXT = re.compile(r"\d+(?:\.\d+)?")


def visible(text: str) -> str:
    """`text` without what holds no number of the report: fenced blocks (but mermaid's), code spans, link targets."""
    kept, fence = [], None
    for line in text.splitlines():
        match = FENCE.match(line)
        if match:
            fence = None if fence is not None else match.group(1)
        elif fence in (None, "mermaid"):
            kept.append(line)
    return LINK_TARGET.sub("]", INLINE_CODE.sub(" ", "\n".join(kept)))


def leaves(obj, path=()):
    """(path, number) of every number in a JSON value, with the mean, min and max of its lists (of numbers, or of
    one numeric field across a list of dicts) as extra leaves, and the numbers written inside its strings and keys."""
    if isinstance(obj, bool) or obj is None:
        return
    if isinstance(obj, (int, float)):
        yield path, obj
    elif isinstance(obj, str):
        for i, text in enumerate(NUMBER_IN_TEXT.findall(obj)):
            yield path + (f"<text {i}>",), float(text)
    elif isinstance(obj, dict):
        for key, value in obj.items():
            yield from leaves(key, path + ("<key>",))
            yield from leaves(value, path + (key,))
    else:
        for i, value in enumerate(obj):
            yield from leaves(value, path + (i,))
        numeric = [v for v in obj if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if numeric and len(numeric) == len(obj):
            for name, fn in (("<mean>", statistics.mean), ("<min>", min), ("<max>", max)):
                yield path + (name,), fn(numeric)
        if obj and all(isinstance(v, dict) for v in obj):
            for field in set.intersection(*(set(v) for v in obj)):
                column = [v[field] for v in obj]
                if all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in column):
                    for name, fn in (("<mean>", statistics.mean), ("<min>", min), ("<max>", max)):
                        yield path + (name, field), fn(column)


def pools(files: list[Path]) -> tuple[list[float], list[float]]:
    """The numbers of `files`, and the differences of sibling means: means whose paths differ in one place."""
    values, groups = [], {}
    for file in files:
        for path, value in leaves(json.loads(file.read_text()), (str(file),)):
            values.append(value)
            if path[-1] in ("mean", "<mean>") or (len(path) > 1 and path[-2] == "<mean>"):
                for i in range(1, len(path)):
                    groups.setdefault(path[:i] + ("*",) + path[i + 1:], []).append(value)
    diffs = [a - b for group in groups.values() for a, b in itertools.permutations(group, 2)]
    return values, diffs


class Checker:
    def __init__(self, files: list[Path]):
        self.values, self.diffs = pools(files)
        self.cache: dict = {}

    def printed(self, signed: bool, digits: int, scale: int) -> set[str]:
        key = (signed, digits, scale)
        if key not in self.cache:
            pool = self.values + self.diffs if signed else self.values
            self.cache[key] = {f"{scale * v:{'+' if signed else ''}.{digits}f}" for v in pool}
        return self.cache[key]

    def unknown(self, text: str) -> list[str]:
        """The numbers of `text` (a report section) that no source number gives at their printed precision."""
        bad = []
        for match in NUMBER.finditer(visible(text)):
            sign, token, std, percent = match.groups()
            percent = bool(percent)
            numbers = [(sign, token)] + ([("", std.split("±")[1].strip())] if std else [])
            for s, t in numbers:
                digits = len(t.split(".")[1]) if "." in t else 0
                scales = (100, 1) if percent else (1,)
                if not any(s + t in self.printed(bool(s), digits, scale) for scale in scales):
                    bad.append(match.group(0))
        return bad


def sections(report: str) -> list[str]:
    return re.split(r"\n(?=## )", report)


def cited(section: str) -> list[Path]:
    return [Path(p) for line in section.splitlines() if line.startswith("Source:")
            for p in re.findall(r"`([^`]+\.json)`", line)]


def unknown_numbers(report: str) -> dict[str, list[str]]:
    """{section title: its numbers that its Source files do not hold}; the preamble is checked against all files."""
    everything = [p for s in sections(report) for p in cited(s)]
    found = {}
    for section in sections(report):
        files = cited(section) if section.startswith("## ") else everything
        bad = Checker(files).unknown(section)
        if bad:
            found[section.splitlines()[0]] = bad
    return found


# ------------------------------------------------------------------ tests

def test_every_number_of_the_report_is_a_number_of_the_files_its_section_cites(inputs, tmp_path):
    main(argv(inputs, tmp_path / "docs"))
    report = (tmp_path / "docs/report.md").read_text()
    assert unknown_numbers(report) == {}
    titled = [s for s in sections(report) if s.startswith("## ")]
    assert len(titled) >= 8
    counts = [len(NUMBER.findall(visible(s))) for s in titled]
    assert sum(counts) == len(NUMBER.findall(visible(report))) > 200  # the check is not vacuous
    numbered = [s for s, n in zip(titled, counts) if n]
    assert len(numbered) >= 7  # all but the algorithm print numbers
    assert all(cited(s) for s in numbered), "a section prints numbers without naming its source"


def test_the_numbers_check_catches_a_number_no_source_holds(inputs, tmp_path):
    main(argv(inputs, tmp_path / "docs"))
    report = (tmp_path / "docs/report.md").read_text()
    parts = sections(report)
    h = next(i for i, s in enumerate(parts) if s.startswith("## The domain-invariant function h"))
    burst = next(i for i, s in enumerate(parts) if s.startswith("## Classical multi-frame"))
    finetune_psnr = json.loads((inputs["finetune"] / "finetune.json").read_text())["arms"][0]["psnr"]["mean"]
    parts[h] += "\nAn invented result: 23.4567 dB.\n"
    parts[burst] += f"\nA number of another section's file: {finetune_psnr:.4f} dB.\n"  # not in the burst file
    bad = unknown_numbers("\n".join(parts))
    assert [title for title in bad] == [parts[h].splitlines()[0], parts[burst].splitlines()[0]]
    assert bad[parts[h].splitlines()[0]] == ["23.4567"]


def test_each_source_line_names_its_files_command(inputs, tmp_path):
    main(argv(inputs, tmp_path / "docs"))
    report = (tmp_path / "docs/report.md").read_text()
    for section in sections(report):
        for line in (ln for ln in section.splitlines() if ln.startswith("Source:")):
            for path in re.findall(r"`([^`]+\.json)`", line):
                run = json.loads(Path(path).read_text()).get("run")
                expected = run["command"] if run else f"python scripts/bench_burst.py --out {inputs['burst']}"
                assert expected in line


@pytest.mark.parametrize("flag", [spec.flag for spec in INPUTS])
def test_a_missing_result_file_stops_in_one_line_naming_it_and_its_command(inputs, old_docs, flag, capsys):
    spec = next(s for s in INPUTS if s.flag == flag)
    folder = inputs[flag][-1] if spec.many else inputs[flag]  # the second of several
    (folder / spec.file).unlink()
    with pytest.raises(SystemExit) as stop:
        main(argv(inputs, old_docs))
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert str(folder / spec.file) in err
    script = {"bench": "benchmark.py", "arms": "benchmark.py --ablation", "ablation": "ablate.py",
              "finetune": "finetune_protocol.py --bench BENCH", "incidents": "training_incidents.py",
              "burst": "bench_burst.py"}[flag]
    assert f"python scripts/{script} --out {folder}" in err
    assert_untouched(old_docs)


def test_a_partial_benchmark_or_a_record_without_a_field_is_refused(inputs, old_docs, capsys):
    path = inputs["bench"] / "results.json"
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "partial": True}))
    with pytest.raises(SystemExit):
        main(argv(inputs, old_docs))
    assert f"{path}: lacks a finished run" in capsys.readouterr().err
    path.write_text(json.dumps(data))
    arms = inputs["arms"][0] / "results.json"
    data = json.loads(arms.read_text())
    arms.write_text(json.dumps({**data, "summary": {m: data["summary"][m] for m in ("bicubic", "deflow")}}))
    with pytest.raises(SystemExit):
        main(argv(inputs, old_docs))
    assert f"{arms}: lacks scores of DeFlow's ablation arms" in capsys.readouterr().err
    arms.write_text(json.dumps(data))
    h = inputs["ablation"] / "h_ablation.json"
    rows = json.loads(h.read_text())
    del rows["rows"][1]["h_gap"]
    h.write_text(json.dumps(rows))
    with pytest.raises(SystemExit):
        main(argv(inputs, old_docs))
    assert "rows[].h_gap" in capsys.readouterr().err
    assert_untouched(old_docs)


def test_a_failure_while_writing_leaves_the_earlier_report(inputs, old_docs, tmp_path, capsys):
    """A figure of the benchmark is missing: the figures fail after the text inputs loaded."""
    (inputs["bench"] / "figures/lr_crops.png").unlink()
    with pytest.raises(SystemExit):
        main(argv(inputs, old_docs))
    assert "lr_crops.png: missing" in capsys.readouterr().err
    assert_untouched(old_docs)
    with pytest.raises(SystemExit):
        main(argv(inputs, tmp_path / "new_docs"))
    assert not (tmp_path / "new_docs").exists()  # a folder it created is removed again


def test_the_report_reads_nothing_of_the_benchmarks_runs(inputs, tmp_path):
    """The committed result files (results.json, figures/, realism/) make the report: runs/ may be gone."""
    shutil.rmtree(inputs["bench"] / "runs")
    main(argv(inputs, tmp_path / "docs"))
    made = (inputs["bench"] / "figures/sr_crops.png").read_bytes()
    assert (tmp_path / "docs/figures/sr_crops.png").read_bytes() == made


def test_the_benchmark_figures_need_every_image_they_show(tmp_path):
    keys = {m: method_key(SETTINGS, m) for m in METHODS}
    write_runs(tmp_path / "runs", keys)
    sr = tmp_path / "runs/eval" / keys["deflow"] / f"seed0_it{SETTINGS['sr_iters']}/sr"
    (sr / f"{TEST[1]}.png").unlink()
    with pytest.raises(UserError, match=rf"{TEST[1]}\.png: missing.*rerun `make it`"):
        bench_figures(tmp_path, SETTINGS["split"], keys, list(METHODS), BUDGET, "make it")


def test_a_new_report_replaces_the_report_and_its_figures(inputs, old_docs):
    (old_docs / f".partial-{2 ** 22 + 1}-abandoned").mkdir()  # a killed run's stage: no process has that id
    main(argv(inputs, old_docs))
    report = (old_docs / "report.md").read_text()
    assert report.startswith("# deflow: findings report")
    linked = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", report)
    figures = sorted(p.name for p in (old_docs / "figures").iterdir())
    assert sorted(Path(p).name for p in linked) == figures  # every figure is linked, every link exists
    assert {"sr_crops.png", "lr_crops.png", "training_curves.png", "h_crops.png", "realism_nlf.png",
            "realism_crops_deflow.png"} <= set(figures)
    assert "old.png" not in figures
    assert sorted(p.name for p in old_docs.iterdir()) == ["figures", "report.md"]
    assert report.count("```mermaid") == 2


def h_verdicts(report: str) -> tuple[str, dict[str, str]]:
    section = next(s for s in sections(report) if s.startswith("## The domain-invariant function h"))
    best = re.search(r"Best downstream PSNR: `(\w+)`", section).group(1)
    return best, {m.group(1): m.group(2) for m in re.finditer(r"^- `(\w+)` (.*)$", section, re.M)}


def test_the_h_analysis_follows_the_measured_order(inputs, tmp_path):
    main(argv(inputs, tmp_path / "a"))
    best, why = h_verdicts((tmp_path / "a/report.md").read_text())
    assert best == "median_denoise"
    assert "invariance argument" in why["median_denoise"]       # better, h gap smaller
    assert "letting more of the degradation through" in why["maxpool_noise"]  # worse, h gap larger
    assert "within the seeds' spread" in why["dae"]              # 0.007 dB apart, spreads 0.01 each
    section = (tmp_path / "a/report.md").read_text()
    assert make_report.packaged_h() == "chroma_blur_noise"  # the packaged deflow-bench.yml's
    assert section.count("Why each h helps or hurts") == 1
    assert ("The packaged configs' h is `chroma_blur_noise`: -0.488 dB against `median_denoise` here (beyond the "
            "seeds' spread).") in section
    swapped = {**H_ROWS, "maxpool_noise": (23.5, 0.9, 1.0), "median_denoise": (21.0, 0.2, 2.0)}
    write_h(inputs["ablation"], random.Random(1), swapped)
    main(argv(inputs, tmp_path / "b"))
    best, why = h_verdicts((tmp_path / "b/report.md").read_text())
    assert best == "maxpool_noise"
    assert "not invariance" in why["maxpool_noise"]               # better, h gap larger
    assert "More invariant, yet worse" in why["median_denoise"]   # worse, h gap smaller
    write_h(inputs["ablation"], random.Random(1), H_ROWS, seeds=1)
    main(argv(inputs, tmp_path / "c"))
    best, why = h_verdicts((tmp_path / "c/report.md").read_text())
    assert best == "median_denoise"
    assert all(reason.count("With one seed, tentatively") == 1 for reason in why.values())
    assert "tentatively: this is the invariance argument" in why["median_denoise"]


def test_the_script_exits_2_with_one_line(inputs, tmp_path):
    (inputs["incidents"] / "incidents.json").unlink()
    done = subprocess.run([sys.executable, str(REPO / "scripts/make_report.py"), *argv(inputs, tmp_path / "docs")],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"error: {inputs['incidents'] / 'incidents.json'}: missing; make it with `python scripts/training_incidents.py "
        f"--out {inputs['incidents']}` (the report takes every number from it)"]
    assert not (tmp_path / "docs").exists()


def test_method_folders_are_the_benchmarks(inputs):
    """The figures find each method's images where the benchmark put them (deflow/bench/methods.py names them)."""
    assert method_key(SETTINGS, "bicubic") == "bicubic"
    assert method_key(SETTINGS, "deflow") == f"deflow_it{SETTINGS['deflow_iters']}_pick2_floor"
    assert method_key({**SETTINGS, "deflow_candidates": 1}, "deflow") == f"deflow_it{SETTINGS['deflow_iters']}_floor"
    assert make_report.method_key({**SETTINGS, "deflow_seeds": 2}, "deflow_plain") == \
        f"deflow_plain_it{SETTINGS['deflow_iters']}_x2"


def test_each_arm_is_compared_with_its_own_runs_reference(inputs, tmp_path):
    """deflow_plain and deflow score differently in the two ablation runs: an arm's differences use its run's."""
    main(argv(inputs, tmp_path / "docs"))
    section = next(s for s in sections((tmp_path / "docs/report.md").read_text())
                   if s.startswith("## Improvements beyond h"))
    runs = [json.loads((folder / "results.json").read_text())["summary"] for folder in inputs["arms"]]
    for run, arm, base in ((runs[0], "deflow_noise_floor", "deflow_plain"), (runs[1], "deflow_no_pick", "deflow")):
        other = runs[1 - runs.index(run)]
        line = next(ln for ln in section.splitlines() if ln.startswith(f"- `{arm}`"))
        mine = f"PSNR {run[arm]['psnr']['mean'] - run[base]['psnr']['mean']:+.3f} dB"
        assert mine in line
        if arm in other:
            continue
        assert f"{run[arm]['psnr']['mean'] - other[base]['psnr']['mean']:+.3f} dB" not in line
    table_rows = [ln for ln in section.splitlines() if ln.startswith("| deflow_plain |")]
    assert len(table_rows) == 1 and f"{runs[0]['deflow_plain']['psnr']['mean']:.3f}" in table_rows[0]
