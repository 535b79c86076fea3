"""Model files are executable when unpickled: every place deflow reads one must refuse a file whose pickle would run
code (checked by the side effect that code would have), in one line that says how to convert a trusted legacy file;
and weights travel as .safetensors, which hold nothing to run."""
import pathlib
import pickle

import pytest
import torch
import yaml

from deflow import checkpoint
from deflow.errors import UserError
from deflow.tools.export_weights import main as export_main
from deflow.tools.net_interp import main as net_interp_main
from deflow.tools.test_sr import main as sr_test_main
from deflow.tools.translate import main as translate_main
from deflow.train import main as train_main
from metrics.lpips_metric import _build as build_lpips
from sr.esrgan.perceptual_loss import load_vgg19_features
from tests.faults.checks import assert_one_line_error
from tests.faults.record import record


class TouchOnLoad:
    """Unpickling this runs Path.touch(marker): the code a malicious model file would run instead."""

    def __init__(self, marker: pathlib.Path):
        self.marker = marker

    def __reduce__(self):
        return pathlib.Path.touch, (self.marker,)


@pytest.fixture
def crafted(tmp_path, models) -> tuple[pathlib.Path, pathlib.Path]:
    """(a real SR checkpoint with a code-running object added, the marker file its loading would create)."""
    marker = tmp_path / "code_ran"
    state = checkpoint.load(models["sr"])
    state["payload"] = TouchOnLoad(marker)
    path = tmp_path / "crafted.pth"
    torch.save(state, path)
    return path, marker


def _deflow_train_args(models, tmp_path, crafted_path):
    opt = yaml.safe_load(pathlib.Path(models["deflow_config"]).read_text())
    opt["network_g"]["pretrain_encoder"] = str(crafted_path)
    opt["path"]["experiments_root"] = str(tmp_path / "deflow_exp")
    config = tmp_path / "deflow_encoder.yml"
    config.write_text(yaml.safe_dump(opt))
    return ["-opt", config, "--set", "train.total_iter=1"]


LOADERS = {
    "test_sr.py --model_path": lambda m, t, c: (sr_test_main, ["--model_path", c, "--input", m["good"] / "lq", "--out",
                                                                 t / "out", "--device", "cpu"]),
    "translate.py --model_path": lambda m, t, c: (translate_main, ["--model_path", c, "--source_dir", m["good"] / "gt",
                                                                     "--out_dir", t / "out", "--device", "cpu"]),
    "net_interp.py --psnr": lambda m, t, c: (net_interp_main, ["--psnr", c, "--gan", m["sr"], "--alpha", "0.5",
                                                               "--out", t / "mixed.pth"]),
    "export_weights.py": lambda m, t, c: (export_main, [c, "--out", t / "w.safetensors"]),
    "deflow.train --resume": lambda m, t, c: (train_main, ["-opt", m["sr_config"], "--resume", c, "--set",
                                                           f"path.experiments_root={t / 'exp'}"]),
    "deflow.train path.pretrain_network_g": lambda m, t, c: (train_main, [
        "-opt", m["sr_config"], "--set", f"path.pretrain_network_g={c}", "--set", f"path.experiments_root={t / 'exp'}",
        "--set", "train.total_iter=1"]),
    "deflow.train network_g.pretrain_encoder": lambda m, t, c: (train_main, _deflow_train_args(m, t, c)),
}


@pytest.mark.parametrize("loader", LOADERS)
def test_a_crafted_pickle_is_refused_in_one_line_and_runs_nothing(loader, crafted, models, tmp_path,
                                                                  main_in_process):
    path, marker = crafted
    main, argv = LOADERS[loader](models, tmp_path, path)
    code, _, err = main_in_process(main, *argv)
    line = assert_one_line_error(code, err, path, "--trust-pickle")
    record("untrusted checkpoints", loader=loader, refused_in_one_line="refused" in line,
           side_effect=marker.exists())
    assert "refused" in line
    assert not marker.exists(), f"{loader} ran the file's code"


def test_the_backbone_and_vgg_loaders_refuse_it_too(crafted):
    path, marker = crafted
    with pytest.raises(UserError, match="refused"):
        load_vgg19_features(str(path))
    metric = build_lpips("alex", path)
    assert metric.model is None and "refused" in metric.reason and str(path) in metric.reason
    assert not marker.exists()


def test_the_crafted_file_does_run_code_when_unpickled_unsafely(crafted, tmp_path, main_in_process):
    """The refusals above are meaningful only if the file is a real attack: --trust-pickle loads it with full
    pickle, as its help says, and the payload runs."""
    path, marker = crafted
    code, out, err = main_in_process(export_main, path, "--trust-pickle", "--out", tmp_path / "w.safetensors")
    assert code == 0, err
    assert marker.exists()


def test_a_raw_pickle_of_an_older_protocol_is_refused_not_executed(tmp_path, main_in_process, models):
    marker = tmp_path / "code_ran"
    path = tmp_path / "legacy.pth"
    path.write_bytes(pickle.dumps({"params": TouchOnLoad(marker)}, protocol=4))
    code, _, err = main_in_process(sr_test_main, "--model_path", path, "--input", models["good"] / "lq",
                                   "--out", tmp_path / "out", "--device", "cpu")
    assert_one_line_error(code, err, path)
    assert not marker.exists()


def _outputs(folder: pathlib.Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.png"))}


def test_exported_sr_weights_restore_the_same_images_as_the_checkpoint(models, tmp_path, main_in_process):
    exported = tmp_path / "sr.safetensors"
    assert main_in_process(export_main, models["sr"], "--out", exported)[0] == 0
    results = {}
    for name, model_path in (("pth", models["sr"]), ("safetensors", exported)):
        code, _, err = main_in_process(sr_test_main, "--model_path", model_path, "--input", models["good"] / "lq",
                                       "--out", tmp_path / name, "--device", "cpu")
        assert code == 0, err
        results[name] = _outputs(tmp_path / name / "sr")
    assert results["pth"] and results["pth"] == results["safetensors"]
    # the file holds the inference weights (EMA) and the options, nothing else
    state = checkpoint.load(exported)
    expected = checkpoint.load(models["sr"])["model"]["ema"]["g"]
    assert set(state["inference_weights"]) == {"g"} and state["options"]["model_type"] == "SRModel"
    assert all(torch.equal(state["inference_weights"]["g"][k], v) for k, v in expected.items())


def test_exported_deflow_weights_translate_the_same_images(models, tmp_path, main_in_process):
    exported = tmp_path / "deflow.safetensors"
    assert main_in_process(export_main, models["deflow"], "--out", exported)[0] == 0
    results = {}
    for name, model_path in (("pth", models["deflow"]), ("safetensors", exported)):
        code, _, err = main_in_process(translate_main, "--model_path", model_path, "--source_dir",
                                       models["good"] / "gt", "--out_dir", tmp_path / name, "--device", "cpu",
                                       "--seed", "0")
        assert code == 0, err
        results[name] = _outputs(tmp_path / name)
    assert results["pth"] and results["pth"] == results["safetensors"]


def test_exported_weights_start_a_training_like_the_checkpoint(models, tmp_path):
    from deflow.config import load_options
    from deflow.trainer import train

    exported = tmp_path / "sr.safetensors"
    checkpoint.save_weights({"g": checkpoint.load(models["sr"])["model"]["nets"]["g"]}, None, exported)
    starts = {}
    for name, weights in (("pth", models["sr"]), ("safetensors", exported)):
        root = train(load_options(models["sr_config"], [f"path.pretrain_network_g={weights}", "train.total_iter=1",
                                                        f"path.experiments_root={tmp_path / name}", "val.val_freq=null",
                                                        "path.param_key_g=params"]))
        starts[name] = checkpoint.load(checkpoint.latest(root / "checkpoints"))["model"]["nets"]["g"]
    assert all(torch.equal(starts["pth"][k], starts["safetensors"][k]) for k in starts["pth"])


def test_a_damaged_safetensors_file_is_one_line(models, tmp_path, main_in_process):
    exported = tmp_path / "sr.safetensors"
    assert main_in_process(export_main, models["sr"], "--out", exported)[0] == 0
    exported.write_bytes(exported.read_bytes()[:200])
    code, _, err = main_in_process(sr_test_main, "--model_path", exported, "--input", models["good"] / "lq",
                                   "--out", tmp_path / "out", "--device", "cpu")
    assert_one_line_error(code, err, exported, "safetensors")


def test_export_needs_a_safetensors_name(models, tmp_path, main_in_process):
    code, _, err = main_in_process(export_main, models["sr"], "--out", tmp_path / "w.pth")
    assert_one_line_error(code, err, "w.pth", ".safetensors")
