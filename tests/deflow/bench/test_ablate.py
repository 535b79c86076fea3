"""The h ablation (deflow/bench/ablate.py): each arm is the benchmark's deflow method with only network_g.h (and the
conditioning folders it makes) changed; the config's own h is the benchmark's DeFlow model; a tiny run writes the
report's schema with one row per h, and a rerun into the same folder reuses every step, the DAE included."""
import importlib
import json
from pathlib import Path

import torch
import yaml

from deflow.bench import ablate, benchmark, methods
from deflow.bench.ablate import CONFIG_H, arms, h_names, h_section
from deflow.bench.benchmark import CONFIGS, Budget, check_settings, parse_args
from deflow.bench.methods import METHODS
from deflow.config import load_options
from deflow.flow.h import BicubicNoise, build_h, conditioning_image
from deflow.imageio import read_image, write_image
from deflow.models.loading import load_for_inference
from deflow.tools.sample_photos import photo
from tests.conftest import call_main

STAT = {"mean", "std", "n", "values"}
ROW = {"h", "section", "what", "psnr", "ssim", "gap_closed_psnr", "gap_closed_ssim", "akld_vs_camera",
       "nlf_distance_8bit", "nll_clean", "nll_degraded", "nll_units", "h_gap", "h_gap_units", "deflow_train_seconds"}


def test_a_bad_h_name_is_a_one_line_user_error(tmp_path):
    code, _, err = call_main(ablate.main, "--out", tmp_path, "--h", "bicubic_noise", "nosuch")
    assert code == 2
    assert err.strip().count("\n") == 0 and "--h nosuch: not a registered h; choose from bicubic_noise" in err
    assert not (tmp_path / "runs").exists()


def test_the_benchmark_deflow_model_is_the_arm_of_the_configs_h(tmp_path):
    """The benchmark's DeFlow config sets network_g.h to chroma_blur_noise with its keys at their defaults: the section
    the ablation gives chroma_blur_noise, whose arm therefore trains (and reuses) the benchmark's own models. A config
    without network_g.h has DeFlowNet's default h, bicubic_noise at 0.03 (CONFIG_H)."""
    from deflow.flow import DeFlowNet
    from deflow.flow.h.chroma import ChromaBlurNoise

    options = dict(load_options(CONFIGS["deflow"])["network_g"])
    options.pop("type")
    assert type(DeFlowNet(**options).h) is ChromaBlurNoise
    assert h_section("chroma_blur_noise", None) == options["h"]
    method, _, training = arms(["chroma_blur_noise"], tmp_path / "runs", CONFIGS["deflow"], 1)["h_chroma_blur_noise"]
    assert method.train is METHODS["deflow"].train and training == ""
    options.pop("h")
    h = DeFlowNet(**options).h
    assert type(h) is BicubicNoise and {"type": "bicubic_noise", "noise_std": h.noise_std} == CONFIG_H
    assert h_section("bicubic_noise", None) == CONFIG_H


def test_every_arm_is_the_benchmark_deflow_with_only_network_g_h_changed(tmp_path):
    table = arms(h_names(), tmp_path / "runs", CONFIGS["deflow"], 600)
    assert list(table) == [f"h_{name}" for name in h_names()] and "h_chroma_blur_noise" in table
    for budget_args in ([], ["--quick"]):
        _, _, budget = check_settings(parse_args([*budget_args, "--deflow-seeds", "1"]))
        suffix = METHODS["deflow"].folder(budget).removeprefix("deflow")  # heat and noise floor: as the benchmark's
        assert all(m.folder(budget) == f"{arm}{suffix}" for arm, (m, _, _) in table.items())
    trainings = [m.train for arm, (m, _, _) in table.items() if arm != "h_chroma_blur_noise"]
    assert len(set(map(id, trainings))) == len(trainings)  # one training per h
    for arm, (method, section, training) in table.items():
        if arm == "h_chroma_blur_noise":
            continue
        assert method.train.keywords["deflow_train"].keywords["sets"] == {"network_g.h": section}
        assert section["type"] == arm.removeprefix("h_") and training == arm
        if section["type"] != "dae":  # its weights are trained by the run
            build_h(section, 4)


def test_deflow_sets_change_every_arm_the_configs_own_h_included_and_name_them(tmp_path):
    sets = {"network_g.domain_filter": True, "train.optim_g.lr": 0.001}
    table = arms(["bicubic_noise", "chroma_blur_noise"], tmp_path / "runs", CONFIGS["deflow"], 1, sets)
    assert list(table) == ["h_bicubic_noise_domain_filter_lr0.001", "h_chroma_blur_noise_domain_filter_lr0.001"]
    for arm, (method, section, training) in table.items():
        assert training == arm and method.train is not METHODS["deflow"].train  # the own h trains its own models
        assert method.train.keywords["deflow_train"].keywords["sets"] == {**sets, "network_g.h": section}


def test_a_bad_deflow_set_is_a_one_line_user_error(tmp_path):
    for assignment, message in (("network_g.domain_filter", "--deflow-set network_g.domain_filter: expected "
                                 "KEY=VALUE"), ("network_g.nosuch=1", "nosuch")):
        code, _, err = call_main(ablate.main, "--out", tmp_path, "--h", "bicubic_noise", "--deflow-set", assignment)
        assert code == 2 and err.strip().count("\n") == 0 and message in err, err
    assert not (tmp_path / "runs").exists()


def write_photos(folder) -> dict[str, list[str]]:
    """Centre crops of the benchmark's photos, as image files: --real, --test and --clean of a tiny run; 256 px for
    the two DeFlow domains (flat regions enough for the noise floor's noise-level functions), 128 for the test."""
    paths = {}
    for role, names in benchmark.SPLIT.items():
        size = 128 if role == "test" else 256
        for name in names:
            image = photo(name)
            top, left = (image.shape[1] - size) // 2, (image.shape[2] - size) // 2
            write_image(folder / f"{name}.png", image[:, top:top + size, left:left + size])
        paths[role] = [str(folder / f"{name}.png") for name in names]
    return paths


def in_process(cmd: list[str], log, env=None) -> None:
    """benchmark.run without an interpreter start-up per step: `python -m MODULE ARGS` as MODULE.main(ARGS), its
    output appended to `log` after the command line, as run writes it."""
    assert cmd[1] == "-m", cmd
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as stream:
        stream.write("$ " + " ".join(cmd) + "\n")
        code, out, err = call_main(importlib.import_module(cmd[2]).main, *cmd[3:])
        stream.write(out + err)
    if code:
        raise RuntimeError(f"{' '.join(cmd)}: exit {code}\n{err[-2000:]}")


def test_a_tiny_ablation_writes_one_row_per_h_and_a_rerun_reuses_every_step(tmp_path, monkeypatch):
    monkeypatch.setitem(benchmark.BUDGETS, "quick", Budget(300, 300, (0,), 48, 3))  # a cheap realism test
    monkeypatch.setattr(benchmark, "run", in_process)  # one job: the steps share this process's stdout
    photos = write_photos(tmp_path / "photos")
    out = tmp_path / "bench"
    argv = ["--out", out, "--h", "chroma_blur_noise", "dae", "--quick", "--deflow-iters", "3", "--sr-iters", "2",
            "--dae-iters", "3", "--jobs", "1", "--threads", "1",
            *(arg for role, files in photos.items() for arg in (f"--{role}", *files))]
    code, stdout, err = call_main(ablate.main, *argv)
    assert code == 0, stdout[-3000:] + err[-3000:]
    report = json.loads((out / "h_ablation.json").read_text())
    assert set(report) == {"run", "settings", "reference", "rows", "figure"}
    assert set(report["run"]) == {"command", "date", "wall_seconds", "machine"}
    assert {m: set(ref) for m, ref in report["reference"].items()} == {"bicubic": {"psnr", "ssim"},
                                                                       "oracle": {"psnr", "ssim"}}
    assert [row["h"] for row in report["rows"]] == ["chroma_blur_noise", "dae"]
    for row in report["rows"]:
        assert set(row) == ROW
        assert all(set(row[k]) == STAT for k in ("psnr", "ssim", "gap_closed_psnr", "gap_closed_ssim",
                                                   "akld_vs_camera"))
        assert row["psnr"]["n"] == 1 and row["nll_units"] == "bits per dimension" and row["h_gap"] > 0
        assert row["deflow_train_seconds"] > 0
    assert (out / report["figure"]).exists() and "| dae |" in (out / "h_ablation.md").read_text()

    runs, (own, dae) = out / "runs", (row["section"] for row in report["rows"])
    assert dae["weights"] == str(runs / "dae/it3/checkpoints/iter_00000003.pth") and Path(dae["weights"]).is_file()
    clean = read_image(runs / "lr/bicubic/rocket.png")
    data = [runs / "deflow/data" / methods.conditioning_name(section) for section in (own, dae)]
    assert torch.equal(read_image(data[1] / "clean/4x/rocket.png"), conditioning_image(build_h(dae, 4), clean[None])[0])
    assert torch.equal(read_image(data[1] / "clean/1x/rocket.png"), clean)
    options = [yaml.safe_load((runs / "deflow" / name / "options.yml").read_text()) for name in ("it3", "h_dae_it3")]
    assert [o["network_g"].pop("h") for o in options] == [own, dae]
    assert [o["path"].pop("experiments_root") for o in options] == [str(runs / f"deflow/{n}") for n in ("it3", "h_dae_it3")]
    roots = [{k: o["datasets"]["train"].pop(f"dataroot_{k}") for k in ("clean_gt", "clean_lq", "degraded_gt",
                                                                         "degraded_lq")} for o in options]
    assert roots == [{"clean_gt": str(d / "clean/1x"), "clean_lq": str(d / "clean/4x"), "degraded_gt": str(d / "real/1x"),
                      "degraded_lq": str(d / "real/4x")} for d in data]
    assert options[0] == options[1]  # nothing else differs

    logs = sorted((runs / "logs").glob("*.log"))
    assert any(log.name == "dae_it3.log" for log in logs)
    code, stdout, err = call_main(ablate.main, *argv)
    assert code == 0, stdout[-3000:] + err[-3000:]
    assert "reusing" in stdout and "started" not in stdout  # no training, translation or scoring ran again
    assert sorted((runs / "logs").glob("*.log")) == logs
    assert all(sum(line.startswith("$ ") for line in log.read_text().splitlines()) == 1 for log in logs)
    again = json.loads((out / "h_ablation.json").read_text())
    assert again["rows"] == report["rows"] and again["reference"] == report["reference"]


def test_with_candidates_and_a_set_each_model_trains_with_it_and_the_scores_use_the_picked_ones(tmp_path, monkeypatch):
    monkeypatch.setitem(benchmark.BUDGETS, "quick", Budget(300, 300, (0,), 48, 3))
    monkeypatch.setattr(benchmark, "run", in_process)
    loaded = []

    def load(path, **kwargs):
        loaded.append(Path(path))
        return load_for_inference(path, **kwargs)

    monkeypatch.setattr(ablate, "load_for_inference", load)
    distances = iter([2.0, 1.0])  # candidate 1 nearer the real domain: the scores must not take model 0 by default
    monkeypatch.setattr(methods, "real_nlf_distance", lambda bench, images: next(distances))
    photos = write_photos(tmp_path / "photos")
    out = tmp_path / "bench"
    code, stdout, err = call_main(ablate.main, "--out", out, "--h", "bicubic_noise", "--quick", "--deflow-iters", "3",
                                  "--sr-iters", "2", "--deflow-candidates", "2", "--deflow-set",
                                  "network_g.domain_filter=true", "--jobs", "1", "--threads", "1",
                                  *(arg for role, files in photos.items() for arg in (f"--{role}", *files)))
    assert code == 0, stdout[-3000:] + err[-3000:]
    report = json.loads((out / "h_ablation.json").read_text())
    assert [row["h"] for row in report["rows"]] == ["bicubic_noise_domain_filter"]
    assert report["settings"]["deflow_sets"] == {"network_g.domain_filter": True}
    runs = out / "runs/deflow"
    names = ["h_bicubic_noise_domain_filter_it3", "h_bicubic_noise_domain_filter_it3_seed1"]
    assert not (runs / "it3").exists()  # the config's own h did not reuse the benchmark's models
    for name in names:
        assert yaml.safe_load((runs / name / "options.yml").read_text())["network_g"]["domain_filter"] is True
    record = json.loads((runs / "h_bicubic_noise_domain_filter_it3_pick2_floor_pick_group0.json").read_text())
    assert record == {"nlf_distance_8bit": {"0": 2.0, "1": 1.0}, "chosen": 1}
    assert loaded == [runs / names[1] / "checkpoints/iter_00000003.pth"]
    assert "each picked of 2" in (out / "h_ablation.md").read_text()
