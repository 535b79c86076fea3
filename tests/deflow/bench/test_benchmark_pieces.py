"""The camera benchmark's pieces: the classifier two-sample test, the white-noise and Poisson-Gaussian fits, the
split, the summary, its packaged configs and its table of methods."""
import threading
import time
from functools import partial
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from deflow.bench import benchmark
from deflow.bench.bench_report import summarize
from deflow.bench.benchmark import check_settings, parse_args
from deflow.bench.methods import METHODS, Method, fit_pg_noise, fit_white_noise_sigma, pg_fit_lr
from deflow.config import load_options
from deflow.errors import UserError
from deflow.imageio import list_images, read_image, write_image
from deflow.tools.sample_photos import photo, write_photo_set
from degradations.cli import degrade_folder
from degradations.pipeline import Pipeline
from metrics.noise import noise_std
from metrics.realism import c2st_accuracy, sample_patches
from metrics.realism.nlf import estimate_nlf, fit_variance_line


@pytest.fixture(scope="module")
def photos() -> list[torch.Tensor]:
    return [photo(name) for name in ("astronaut", "coffee", "rocket", "chelsea")]


@pytest.fixture
def one_thread():
    """The test's small CNN trains fastest on one thread; two thrash on a busy 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_c2st_is_near_chance_for_two_samples_of_one_distribution(photos, one_thread):
    a = sample_patches(photos, 400, 32, torch.Generator().manual_seed(0))
    b = sample_patches(photos, 400, 32, torch.Generator().manual_seed(1))
    assert 0.35 <= c2st_accuracy(a, b, seed=0, steps=60, batch_size=32) <= 0.65


def test_c2st_separates_clean_from_heavily_noised_patches(photos, one_thread):
    a = sample_patches(photos, 400, 32, torch.Generator().manual_seed(0))
    b = sample_patches(photos, 400, 32, torch.Generator().manual_seed(1))
    noised = (b + 0.1 * torch.randn(b.shape, generator=torch.Generator().manual_seed(2))).clamp(0, 1)
    assert c2st_accuracy(a, noised, seed=0, steps=60, batch_size=32) > 0.9


def test_white_noise_fit_recovers_a_known_noise_level(photos):
    clean = [img[:, :128, :128] for img in photos]
    noisy = [(img + 12 / 255 * torch.randn(img.shape, generator=torch.Generator().manual_seed(i))).clamp(0, 1)
             for i, img in enumerate(clean)]
    target = sum(noise_std(img) for img in noisy) / len(noisy)
    assert fit_white_noise_sigma(clean, target) == pytest.approx(12, abs=1.5)


def test_pg_fit_recovers_the_noise_level_function_of_a_real_domain_made_with_it(tmp_path):
    """A real domain of smooth photos (blurred, bicubic x2) with heteroscedastic noise of variance 300 x + 40
    (8-bit^2): pg_fit's added curve comes back within 20 %, and so does the real domain's in pg_fit's own LR."""
    planted = torch.tensor([300.0, 40.0])
    write_photo_set(tmp_path / "real_hr", ["astronaut", "coffee"], 8)
    write_photo_set(tmp_path / "clean_hr", ["rocket", "chelsea"], 8)
    camera = Pipeline.from_config([{"op": "blur", "params": {"sigma_x": 3.0, "size": 25}},
                                   {"op": "resize", "params": {"relative_to": "lr", "mode": "imresize"}},
                                   {"op": "heteroscedastic_gaussian", "params": {"slope": 300.0, "floor": 40.0}},
                                   {"op": "quantize"}], 2, "planted")
    degrade_folder(camera, tmp_path / "real_hr", tmp_path / "real", 1000)
    degrade_folder(Pipeline.from_name_or_file("bicubic", 2), tmp_path / "clean_hr", tmp_path / "bicubic", 0)

    def degrade(pipeline, role, folder, seed, step):
        degrade_folder(pipeline, tmp_path / f"{role}_hr", folder, seed)
        return folder

    bench = SimpleNamespace(real_lr=tmp_path / "real", bicubic_lr=tmp_path / "bicubic", info={},
                            progress=lambda *args: None, degrade=degrade)
    fit_pg_noise(bench)
    assert torch.tensor(bench.info["pg_fit"]["added"]) == pytest.approx(planted.expand(3, 2), rel=0.2)

    def line(folder):
        return fit_variance_line(estimate_nlf([read_image(p) for p in list_images(folder)]))
    assert line(pg_fit_lr(bench, 0, tmp_path / "pg_fit")) == pytest.approx(line(tmp_path / "real"), rel=0.2)


def test_overlapping_photo_sets_are_a_user_error():
    with pytest.raises(UserError, match="disjoint"):
        check_settings(parse_args(["--real", "coffee", "--test", "coffee", "chelsea"]))


def test_gap_closed_is_paired_by_seed():
    def run(method, seed, psnr, ssim):
        return {"method": method, "seed": seed, "psnr": psnr, "ssim": ssim, "lpips": None, "c2st_vs_camera": 0.5,
                "c2st_vs_real_domain": 0.5, "lr_noise_std_8bit": 1.0, "per_image": {"a": {"psnr": psnr}}}

    results = [run("bicubic", 0, 20.0, 0.4), run("oracle", 0, 24.0, 0.6), run("deflow", 0, 23.0, 0.45),
               run("bicubic", 1, 21.0, 0.5), run("oracle", 1, 23.0, 0.7), run("deflow", 1, 21.5, 0.65)]
    summary = summarize(results, ("bicubic", "deflow", "oracle"))
    assert summary["deflow"]["gap_closed_psnr"]["values"] == pytest.approx([0.75, 0.25])
    assert summary["deflow"]["gap_closed_ssim"]["values"] == pytest.approx([0.25, 0.75])
    # unpaired, (22.25 - 20.5) / (23.5 - 20.5) would be 0.583, not the mean of the pairs
    assert summary["deflow"]["gap_closed_psnr"]["mean"] == pytest.approx(0.5)
    assert summary["deflow"]["psnr"]["std"] == pytest.approx(1.0607, abs=1e-4)
    assert list(summary) == ["bicubic", "deflow", "oracle"]


def test_the_table_shows_akld_and_nlf_distance_per_method():
    from deflow.bench.bench_report import markdown

    def run(method, akld, nlf):
        return {"method": method, "seed": 0, "psnr": 22.0, "ssim": 0.5, "lpips": None, "c2st_vs_camera": 0.5,
                "c2st_vs_real_domain": 0.5, "akld_vs_camera": akld, "nlf_distance_8bit": nlf,
                "lr_noise_std_8bit": 1.0, "per_image": {"a": {"psnr": 22.0}}}

    results = [run("bicubic", 0.701, 18.88), run("realesrgan", 0.378, None)]
    report = {"summary": summarize(results, ("bicubic", "realesrgan")), "partial": False, "lpips_unavailable": None,
              "oracle_minus_bicubic_psnr": None, "realism_page": "realism/realism.html",
              "run": {"mode": "quick", "date": "d", "machine": "m", "command": "c", "wall_seconds": 60},
              "settings": {"camera": {}, "camera_seed": 0, "split": {}, "sr_config": "s", "sr_iters": 1, "seeds": [0],
                           "deflow_config": "d", "deflow_iters": 1, "noise_std_8bit": {}}}
    table = markdown(report)
    assert "| AKLD vs camera | NLF distance (8-bit) |" in table
    assert "| 0.701 | 18.88 | 1.0 |" in table
    assert "| 0.378 | n/a | 1.0 |" in table and "[realism/realism.html](realism/realism.html)" in table


def test_photo_sets_take_own_image_files_and_folders(tmp_path, photos):
    from deflow.imageio import write_image
    (tmp_path / "mine").mkdir()
    for i, img in enumerate(photos[:2]):
        write_image(tmp_path / "mine" / f"shot{i}.png", img[:, :64, :64])
    write_image(tmp_path / "single.png", photos[2][:, :64, :64])
    split, _, _ = check_settings(parse_args(["--real", str(tmp_path / "mine"), "--test", "chelsea",
                                             "--clean", str(tmp_path / "single.png"), "rocket"]))
    assert split["real"] == [str((tmp_path / "mine" / f"shot{i}.png").resolve()) for i in range(2)]
    assert split["clean"] == [str((tmp_path / "single.png").resolve()), "rocket"]
    written = write_photo_set(tmp_path / "set", split["clean"], multiple=8)
    assert [p.name for p in written] == ["single.png", "rocket.png"]
    with pytest.raises(UserError, match="nosuch.png: neither a skimage photo"):
        check_settings(parse_args(["--real", str(tmp_path / "nosuch.png")]))
    with pytest.raises(UserError, match="shot0 is in both"):
        check_settings(parse_args(["--real", str(tmp_path / "mine"), "--test", str(tmp_path / "mine" / "shot0.png")]))


def test_default_configs_are_package_data_that_load_from_any_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = parse_args([])
    sr, deflow = load_options(args.sr_config), load_options(args.deflow_config)
    assert (sr["model_type"], sr["scale"]) == ("SRModel", 2)
    assert deflow["model_type"] == "DeFlowModel"
    assert "deflow/bench/confs" in args.sr_config.as_posix() and "deflow/bench/confs" in args.deflow_config.as_posix()
    assert set(benchmark.config_hashes(args)) == {"sr", "deflow"}


def test_a_folder_is_keyed_by_the_settings_written_not_the_defaults_filled_in(tmp_path, monkeypatch):
    """A key a newer deflow adds (with its default) leaves the hash alone; a setting written in the config moves it."""
    from deflow import config

    args = parse_args([])
    before = benchmark.config_hashes(args)
    schema = config.schema_for

    def with_new_key(*a, **k):
        tree = schema(*a, **k)
        tree["train"] = {**tree["train"], "a_key_added_later": config.Key(int, 7, "new")}
        return tree

    monkeypatch.setattr(config, "schema_for", with_new_key)
    assert load_options(args.sr_config)["train"]["a_key_added_later"] == 7  # the defaults did change
    assert benchmark.config_hashes(args) == before
    mine = tmp_path / "sr.yml"
    mine.write_text(f"include: {args.sr_config}\nmanual_seed: 5\n")
    changed = benchmark.config_hashes(parse_args(["--sr-config", str(mine)]))
    assert changed["sr"] != before["sr"] and changed["deflow"] == before["deflow"]


def test_an_sr_config_of_another_scale_is_a_user_error(tmp_path):
    mine = tmp_path / "x4.yml"
    mine.write_text(f"include: {parse_args([]).sr_config}\nscale: 4\n")
    with pytest.raises(UserError, match="x4.yml: scale 4; the benchmark is x2"):
        benchmark.config_hashes(parse_args(["--sr-config", str(mine)]))


def test_a_method_added_to_the_table_is_offered_by_the_command_line(monkeypatch):
    main = ["bicubic", "white_noise", "pg_fit", "realesrgan", "deflow", "oracle", "dasr"]
    arms = ["deflow_plain", "deflow_content_shift", "deflow_split_prior", "deflow_domain_filter", "deflow_config_h",
            "deflow_heat_auto", "deflow_noise_floor", "deflow_no_pick", "deflow_scaled_floor", "deflow_keep_colour",
            "deflow_latent_scale"]
    assert list(METHODS) == main + arms
    assert parse_args([]).methods == main
    assert parse_args(["--ablation"]).methods == main + arms
    assert parse_args(["--methods", "oracle", "--ablation"]).methods == ["oracle"] + arms
    blind = Method(make_lr=lambda bench, seed, folder: folder)
    monkeypatch.setattr(benchmark, "METHODS", {**METHODS, "blind": blind})
    assert parse_args([]).methods == [*main, "blind"]
    assert parse_args(["--methods", "blind", "oracle"]).methods == ["blind", "oracle"]
    monkeypatch.undo()
    with pytest.raises(SystemExit):
        parse_args(["--methods", "blind"])


def test_several_deflow_models_the_heat_and_the_ablation_arms_name_their_folders_and_bad_values_are_refused():
    from deflow.bench.methods import deflow_checkpoint

    _, _, budget = check_settings(parse_args([]))
    assert (budget.deflow_seeds, budget.deflow_candidates, budget.deflow_heat) == (2, 2, "1.0")
    assert METHODS["deflow"].folder(budget) == "deflow_it1500_x2_pick2_floor"
    assert METHODS["deflow_heat_auto"].folder(budget) == "deflow_heat_auto_it1500_x2"  # the ablation arms do not pick
    assert METHODS["deflow_noise_floor"].folder(budget) == "deflow_noise_floor_it1500_x2"
    assert METHODS["deflow_no_pick"].folder(budget) == "deflow_no_pick_it1500_x2_floor"
    assert METHODS["deflow_keep_colour"].folder(budget) == "deflow_keep_colour_it1500_x2_pick2_floor"  # but deflow's
    assert METHODS["deflow_latent_scale"].folder(budget) == "deflow_latent_scale_it1500_x2_floor"
    _, _, quick = check_settings(parse_args(["--quick", "--deflow-heat", "0.8"]))
    assert METHODS["deflow"].folder(quick) == "deflow_it300_heat0.8_floor"
    assert METHODS["deflow_plain"].folder(quick) == "deflow_plain_it300"  # its heat is its own, 1.0

    class Bench:
        out, budget = Path("b"), quick
    assert deflow_checkpoint(Bench, 0) == Path("b/deflow/it300/checkpoints/iter_00000300.pth")
    assert deflow_checkpoint(Bench, 1) == Path("b/deflow/it300_seed1/checkpoints/iter_00000300.pth")
    assert deflow_checkpoint(Bench, 1, "plain") == Path("b/deflow/plain_it300_seed1/checkpoints/iter_00000300.pth")
    _, _, picked = check_settings(parse_args(["--deflow-candidates", "3"]))
    assert METHODS["deflow"].folder(picked) == "deflow_it1500_x2_pick3_floor"
    _, _, single = check_settings(parse_args(["--deflow-candidates", "1"]))
    assert METHODS["deflow"].folder(single) == "deflow_it1500_x2_floor"
    for args, message in ((["--deflow-seeds", "0"], "--deflow-seeds must be >= 1"),
                          (["--deflow-candidates", "0"], "--deflow-candidates must be >= 1"),
                          (["--deflow-heat", "hot"], "expected a number or 'auto'")):
        with pytest.raises(UserError, match=message):
            check_settings(parse_args(args))


def test_arms_that_share_a_training_share_one_function_and_the_others_do_not():
    trains = {m: METHODS[m].train for m in METHODS if METHODS[m].train}
    assert trains["deflow_heat_auto"] is trains["deflow_plain"] is trains["deflow_noise_floor"]
    shared = ("deflow_no_pick", "deflow_scaled_floor", "deflow_keep_colour")
    assert all(trains[m] is trains["deflow"] for m in shared)
    assert trains["deflow"].keywords["pick"] and not trains["deflow_plain"].keywords["pick"]
    shared = ("deflow_heat_auto", "deflow_noise_floor", *shared)
    distinct = {m: t for m, t in trains.items() if m not in shared}
    assert len(set(map(id, distinct.values()))) == len(distinct)
    paper = {"network_g.content_shift": False, "network_g.domain_split_prior": False, "network_g.domain_filter": False,
             "network_g.h": {"type": "bicubic_noise", "noise_std": 0.03}}
    assert trains["deflow_plain"].keywords["sets"] == paper
    assert trains["deflow_content_shift"].keywords["sets"] == {**paper, "network_g.content_shift": True}
    assert trains["deflow_domain_filter"].keywords["sets"] == {**paper, "network_g.domain_filter": True}
    assert "network_g.h" not in trains["deflow_config_h"].keywords["sets"]  # --deflow-config's h


def test_run_all_trains_a_shared_training_once_and_runs_its_methods_after_all_its_jobs(monkeypatch):
    calls, lock = [], threading.Lock()
    both_jobs_running = threading.Barrier(2, timeout=10)  # two slots: a training's two jobs run side by side

    def job(name):
        both_jobs_running.wait()
        time.sleep(0.05)
        with lock:
            calls.append(name)

    def train(bench):
        calls.append("train")
        return [partial(job, "train job 0"), partial(job, "train job 1")]

    def other(bench):
        calls.append("other")
        return []

    methods = {"a": Method(lambda *a: None, train=train), "b": Method(lambda *a: None, train=train),
               "c": Method(lambda *a: None, train=other), "d": Method(lambda *a: None)}
    monkeypatch.setattr(benchmark, "METHODS", methods)
    bench = benchmark.Bench.__new__(benchmark.Bench)
    bench.methods, bench.jobs = list(methods), 2

    def sr_run(method, seed):
        with lock:
            assert all(name in calls for name in METHODS_TRAINED[method])  # its training finished before
        return {"method": method, "seed": seed}
    METHODS_TRAINED = {"a": ["train", "train job 0", "train job 1"], "b": ["train", "train job 0", "train job 1"],
                       "c": ["other"], "d": []}
    bench.sr_run = sr_run
    results = bench.run_all((0, 1), lambda results: None)
    assert sorted(calls) == ["other", "train", "train job 0", "train job 1"]
    assert sorted((r["method"], r["seed"]) for r in results) == [(m, s) for m in "abcd" for s in (0, 1)]


def test_pick_model_keeps_the_candidate_whose_noise_level_function_is_nearest_the_real_domains(tmp_path):
    from deflow.bench.methods import pick_model, pick_records

    ramp = torch.linspace(0.1, 0.9, 96).expand(3, 96, 96)  # flat across rows: every patch is weakly textured

    def noisy(sigma, seed):
        g = torch.Generator().manual_seed(seed)
        return [(ramp + sigma * torch.randn(3, 96, 96, generator=g)).clamp(0, 1) for _ in range(4)]
    sigmas = {0: 0.02, 2: 0.045, 4: 0.09, 1: 0.08, 3: 0.015, 5: 0.06}  # the real domain's: 0.05
    translated = []

    def translate(model, out, seed):
        translated.append((model, seed))
        out.mkdir(parents=True)
        for i, img in enumerate(noisy(sigmas[model], 10 * model)):
            write_image(out / f"{i}.png", img)
    bench = SimpleNamespace(out=tmp_path, real_nlf=estimate_nlf(noisy(0.05, 99)),
                            budget=SimpleNamespace(deflow_seeds=2),
                            complete=lambda out: out.is_dir() and any(out.iterdir()))
    assert pick_model(bench, 0, "deflow_x", translate, 3) == 2
    assert pick_model(bench, 1, "deflow_x", translate, 3) == 5
    assert sorted(translated) == [(0, 0), (1, 1), (2, 0), (3, 1), (4, 0), (5, 1)]  # each group's candidates, once
    records = pick_records(bench, ["deflow_x", "deflow"])
    assert sorted(records) == ["deflow_x group 0", "deflow_x group 1"]  # another folder's records stay apart
    distances = records["deflow_x group 1"]["nlf_distance_8bit"]
    assert set(distances) == {"1", "3", "5"} and min(distances, key=distances.get) == "5"
    assert pick_model(bench, 0, "deflow_x", translate, 3) == 2 and len(translated) == 6  # the record is reused
    assert pick_model(bench, 1, "deflow_y", translate, 1) == 1 and len(translated) == 6  # nothing to pick
