"""The fine-tuning protocol (deflow/bench/finetune.py): camera B, its 120 frames, the missing-model error, and a tiny
run of every arm from a tiny camera benchmark made with the benchmark's own pieces."""
import json
from dataclasses import fields

import numpy as np
import pytest
import torch

from deflow.bench import finetune
from deflow.bench.benchmark import CAMERA_SEED, CONFIGS, Bench, Budget, Progress, check_folder, config_hashes
from deflow.bench.finetune import CAMERA_B, FRAME, FRAMES, bench_args, capture_frames
from deflow.bench.methods import METHODS, conditioning_name
from deflow.config import load_options
from deflow.imageio import list_images, read_image, write_image
from deflow.tools.sample_photos import photo, photo_sources
from degradations.camera import ISPS, Camera, CameraParams
from metrics.noise import noise_sigma


def test_camera_b_differs_from_camera_a_in_blur_noise_isp_and_jpeg(tmp_path):
    a, b = CameraParams(), CAMERA_B
    changed = {f.name for f in fields(CameraParams) if getattr(a, f.name) != getattr(b, f.name)}
    assert {"blur_sigma", "photons", "read_std", "isp", "jpeg_quality"} <= changed
    assert b.isp in ISPS and b.scale == a.scale == 2
    hr = photo("chelsea")[None, :, :256, :256]
    lr = {name: Camera(params)(hr, torch.Generator().manual_seed(0))[0] for name, params in (("a", a), ("b", b))}
    for name, img in lr.items():
        write_image(tmp_path / f"{name}.png", img)
    assert abs(noise_sigma([tmp_path / "a.png"]) - noise_sigma([tmp_path / "b.png"])) > 1.0
    assert (lr["a"] - lr["b"]).abs().mean() > 0.02


@pytest.fixture(scope="module")
def real_photos() -> dict[str, torch.Tensor]:
    return {name: photo(name) for name in ("coffee", "hubble_deep_field", "retina")}


def test_frames_are_256_deterministic_and_crops_of_the_allowed_photos_through_camera_b(real_photos):
    camera = Camera(CAMERA_B)
    frames, records = capture_frames(real_photos, camera, FRAMES)
    assert len(frames) == len(records) == FRAMES == 120
    assert all(frame.shape == (3, FRAME, FRAME) == (3, 256, 256) for frame in frames)
    # coffee (400x600) has no 512x512 window; the others share the frames
    assert {r["photo"] for r in records} == {"hubble_deep_field", "retina"}
    side = 2 * FRAME
    for i in range(0, FRAMES, 15):  # each checked frame is camera B's capture of its recorded window, rebuilt here
        r = records[i]
        window = real_photos[r["photo"]].numpy()[:, r["top"]:r["top"] + side, r["left"]:r["left"] + side]
        window = window[:, :, ::-1] if r["hflip"] else window
        window = window[:, ::-1, :] if r["vflip"] else window
        expected = camera(torch.from_numpy(window.copy())[None], torch.Generator().manual_seed(r["noise_seed"]))[0]
        assert torch.equal(frames[i], expected)
    assert any(r["hflip"] for r in records) and any(r["vflip"] for r in records)
    again, again_records = capture_frames(real_photos, camera, 4)
    assert again_records == records[:4] and all(torch.equal(x, y) for x, y in zip(again, frames))
    _, other = capture_frames(real_photos, camera, 4, seed=7)
    assert [(r["top"], r["left"]) for r in other] != [(r["top"], r["left"]) for r in records[:4]]


def fake_bench(root, deflow_iters=3, sr_iters=3, candidates=1) -> None:
    """A camera benchmark folder's settings and report, as benchmark.main writes them, without its models."""
    split = {"real": ["coffee"], "test": ["chelsea"], "clean": ["rocket"]}
    check_folder(root / "runs", {"split": split, "camera": CameraParams().as_dict(), "camera_seed": CAMERA_SEED,
                                 "config_sha1": config_hashes(bench_args(root))})
    (root / "results-quick.json").write_text(json.dumps({"settings": {
        "deflow_iters": deflow_iters, "sr_iters": sr_iters, "deflow_seeds": 1, "deflow_heat": "1.0",
        "deflow_candidates": candidates}}))


def error_of(argv, capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        finetune.main(argv)
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    return lines[0]


def test_a_bench_without_camera_a_models_is_a_one_line_error_naming_the_file_and_the_command(tmp_path, capsys):
    bench, out = tmp_path / "bench", tmp_path / "out"
    argv = ["--bench", str(bench), "--out", str(out)]
    assert f"{bench}/runs/settings.json: missing" in error_of(argv, capsys)
    fake_bench(bench)
    line = error_of(argv, capsys)
    deflow = bench / "runs/deflow/it3/checkpoints/iter_00000003.pth"
    assert f"{deflow}: missing" in line and f"python scripts/benchmark.py --out {bench} --quick" in line
    deflow.parent.mkdir(parents=True)
    deflow.write_bytes(b"")
    line = error_of(argv, capsys)
    sr = bench / "runs/sr/deflow_it3_floor/seed0_it3/checkpoints/iter_00000003.pth"
    assert f"{sr}: missing" in line and f"python scripts/benchmark.py --out {bench} --quick" in line
    assert not out.exists()


def test_camera_a_is_the_benchmarks_picked_deflow_model_and_its_sr_model(tmp_path, capsys):
    """A benchmark that picks each DeFlow model of 2: the protocol adapts the chosen one, not model 0."""
    bench = tmp_path / "bench"
    argv = ["--bench", str(bench), "--out", str(tmp_path / "out")]
    fake_bench(bench, candidates=2)
    record = bench / "runs/deflow/deflow_it3_pick2_floor_pick_group0.json"
    assert f"{record}: missing (camera A's DeFlow pick)" in error_of(argv, capsys)
    record.parent.mkdir(parents=True)
    record.write_text(json.dumps({"nlf_distance_8bit": {"0": 2.0, "1": 1.0}, "chosen": 1}))
    assert f"{bench}/runs/deflow/it3_seed1/checkpoints/iter_00000003.pth: missing" in error_of(argv, capsys)
    chosen = bench / "runs/deflow/it3_seed1/checkpoints/iter_00000003.pth"
    chosen.parent.mkdir(parents=True)
    chosen.write_bytes(b"")
    sr = bench / "runs/sr/deflow_it3_pick2_floor/seed0_it3/checkpoints/iter_00000003.pth"
    assert f"{sr}: missing" in error_of(argv, capsys)


def crops(folder, items) -> list[str]:
    for name, img in items.items():
        write_image(folder / f"{name}.png", img)
    return photo_sources([str(folder / f"{name}.png") for name in items])


@pytest.fixture(scope="module")
def tiny_bench(tmp_path_factory):
    """Camera A's benchmark with the benchmark's pieces, 3 iterations each, on crops of the photos."""
    root, photos = tmp_path_factory.mktemp("bench"), tmp_path_factory.mktemp("photos")
    split = {"real": crops(photos, {"retina": photo("retina")[:, 300:828, 300:828],
                                    "hubble": photo("hubble_deep_field")[:, :520, :560]}),
             "test": crops(photos, {"chelsea": photo("chelsea")[:, :64, :96],
                                    "astronaut": photo("astronaut")[:, 100:196, 200:264]}),
             "clean": crops(photos, {"rocket": photo("rocket")[:, :128, :160],
                                     "immuno": photo("immunohistochemistry")[:, :128, :128]})}
    args = bench_args(root)
    args.methods = ["deflow"]
    bench = Bench(args, Budget(3, 3, (0,), 64, 5), Camera(), split, Progress())
    check_folder(root / "runs", {"split": split, "camera": bench.camera.params.as_dict(), "camera_seed": CAMERA_SEED,
                                 "config_sha1": config_hashes(args)})
    bench.prepare()
    for job in METHODS["deflow"].train(bench):
        job()
    result = bench.sr_run("deflow", 0)
    (root / "results-quick.json").write_text(json.dumps({"settings": {
        "deflow_iters": 3, "sr_iters": 3, "deflow_seeds": 1, "deflow_heat": "1.0"}}))
    return root, split, result


def test_a_tiny_protocol_runs_every_arm_writes_the_report_and_reuses_its_steps(tiny_bench, tmp_path, monkeypatch):
    bench, split, camera_a_result = tiny_bench
    monkeypatch.setattr(finetune, "FRAMES", 6)
    out = tmp_path / "out"
    argv = ["--bench", str(bench), "--out", str(out), "--deflow-iters", "3", "--sr-iters", "3", "--jobs", "2",
            "--threads", "1"]
    finetune.main(argv)
    report = json.loads((out / "finetune.json").read_text())
    assert set(report) == {"run", "settings", "arms"}
    assert set(report["run"]) == {"command", "date", "wall_seconds", "machine"}
    assert set(report["settings"]) == {"camera_a", "camera_b", "frames", "frame_size", "deflow_iters", "sr_iters",
                                       "bench", "photos"}
    s = report["settings"]
    assert s["camera_a"] == CameraParams().as_dict() and s["camera_b"] == CAMERA_B.as_dict()
    assert (s["frames"], s["frame_size"], s["deflow_iters"], s["sr_iters"]) == (6, 256, 3, 3)
    assert set(s["photos"]["frames_from"]) == {"retina", "hubble"}
    assert [arm["arm"] for arm in report["arms"]] == ["no_adaptation", "fine_tune", "scratch", "oracle_b", "bicubic"]
    runs = out / "runs"
    for arm in report["arms"]:
        assert set(arm) == {"arm", "what", "psnr", "ssim", "lpips", "seconds"}
        assert arm["psnr"]["n"] == 1 and 0 < arm["psnr"]["mean"] < 60 and 0 < arm["ssim"]["mean"] <= 1
        assert arm["seconds"] > 0
        assert (arm["lpips"] is None) == (camera_a_result["lpips"] is None)
    # no_adaptation is camera A's SR model scored on camera B's test LR, which is not camera A's
    a_sr = bench / "runs/sr/deflow_it3_floor/seed0_it3/checkpoints/iter_00000003.pth"
    command = (runs / "logs/eval_no_adaptation_seed0.log").read_text().splitlines()[0]
    assert f"--model_path {a_sr} --input {runs / 'lr/test'} --gt {runs / 'photos/test'}" in command
    assert report["arms"][0]["psnr"]["values"] == [
        json.loads((runs / "eval/no_adaptation/seed0/metrics.json").read_text())["mean"]["psnr"]]
    assert not torch.equal(read_image(runs / "lr/test/chelsea.png"), read_image(bench / "runs/lr/test/chelsea.png"))
    # fine_tune starts both models from camera A's, scratch neither; both trained on the frames
    a_deflow = bench / "runs/deflow/it3/checkpoints/iter_00000003.pth"
    options = {name: (runs / path / "options.yml").read_text() for name, path in (
        ("deflow_fine_tune", "deflow/finetune_it3"), ("deflow_scratch", "deflow/it3"),
        ("sr_fine_tune", "sr/fine_tune_it3_floor/seed0_it3"), ("sr_scratch", "sr/scratch_it3_floor/seed0_it3"))}
    assert f"pretrain_network_g: {a_deflow}" in options["deflow_fine_tune"]
    assert f"pretrain_network_g: {a_sr}" in options["sr_fine_tune"] and "param_key_g: params_ema" in options[
        "sr_fine_tune"]
    assert all("pretrain_network_g: null" in options[name] for name in ("deflow_scratch", "sr_scratch"))
    h = load_options(CONFIGS["deflow"])["network_g"]["h"]  # the frames' conditioning is made with the config's h
    assert len(list_images(runs / "deflow/data" / conditioning_name(h) / "real/1x")) == 6
    text = (out / "finetune.md").read_text()
    assert all(arm in text for arm in finetune.ARMS) and "fine_tune - scratch" in text
    # a re-run reuses every step: the same scores and seconds, nothing retrained
    checkpoint_time = (runs / "sr/scratch_it3_floor/seed0_it3/checkpoints/iter_00000003.pth").stat().st_mtime
    finetune.main(argv)
    again = json.loads((out / "finetune.json").read_text())
    assert again["arms"] == report["arms"]
    assert (runs / "sr/scratch_it3_floor/seed0_it3/checkpoints/iter_00000003.pth").stat().st_mtime == checkpoint_time
    assert np.isfinite(again["run"]["wall_seconds"]) and again["run"]["wall_seconds"] < report["run"]["wall_seconds"]
