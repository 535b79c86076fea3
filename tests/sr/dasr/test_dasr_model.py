"""DASRModel: stages, the MoCo state through the after-step hook and in checkpoints, the queue check, shared
degradations, and kernel-free inference through test_sr."""
from pathlib import Path

import pytest
import torch

from deflow import checkpoint
from deflow.config import load_options
from deflow.errors import UserError
from deflow.models.loading import load_for_inference
from deflow.tools import test_sr as sr_tool
from deflow.trainer import as_batch, train, train_step
from deflow.training_state import build_training
from degradations.pipeline import Pipeline
from sr.dasr.dataset import HRPatchesDataset
from sr.dasr.degrade import degrade_shared
from tests.conftest import write_pairs
from tests.sr.dasr.conftest import write_tiny_dasr_config

CPU = torch.device("cpu")


def first_batch(opt: dict) -> dict:
    data = HRPatchesDataset(opt["datasets"]["train"])
    items = [data[k] for k in range(opt["datasets"]["train"]["batch_size_per_gpu"])]
    return {"gt": torch.stack([item["gt"] for item in items])}


def weights(module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def test_stage_one_steps_the_encoder_alone_then_both_and_the_moco_state_follows(tiny_dasr_config):
    opt = load_options(tiny_dasr_config)
    t = build_training(opt, CPU, world=1, amp=None)
    model, batch = t.model, first_batch(opt)
    for iteration in (1, 5):  # encoder_iters is 4: iteration 1 is stage 1, iteration 5 stage 2
        t.iteration = iteration - 1
        g, e, k = weights(model.nets["g"]), weights(model.nets["e"]), weights(model.moco.key_encoder)
        queue, ptr = model.moco.queue.clone(), int(model.moco.queue_ptr)
        losses, bad = train_step(t, batch, None, None, 1, CPU)
        assert bad is None
        assert ("l_pix" in losses) == (iteration == 5)
        assert any(not torch.equal(a, b) for a, b in zip(e, model.nets["e"].parameters()))
        g_moved = any(not torch.equal(a, b) for a, b in zip(g, model.nets["g"].parameters()))
        assert g_moved == (iteration == 5)
        for old, new, query in zip(k, model.moco.key_encoder.parameters(), model.nets["e"].parameters()):
            torch.testing.assert_close(new, 0.9 * old + 0.1 * query.detach())  # momentum 0.9, after the step
        n = opt["datasets"]["train"]["batch_size_per_gpu"]
        assert int(model.moco.queue_ptr) == (ptr + n) % 16
        assert torch.equal(model.moco.queue[:, ptr + n:], queue[:, ptr + n:])
        torch.testing.assert_close(model.moco.queue[:, ptr:ptr + n], model.shared_keys.T)


def test_queue_size_must_divide_the_global_batch(tiny_dasr_config):
    opt = load_options(tiny_dasr_config, ["train.moco.queue_size=15"])
    with pytest.raises(UserError, match=r"train\.moco\.queue_size \(15\) must be a multiple of the global batch size "
                                        r"\(2 per process x 1 process\(es\) = 2\).*set it to 14 or 16"):
        train(opt)
    assert not (Path(opt["path"]["experiments_root"]) / "checkpoints").exists()  # refused before any work


def test_a_pipeline_that_needs_rgb_is_refused(tiny_dasr_config):
    with pytest.raises(UserError, match="cannot degrade 2 crops of an image together"):
        build_training(load_options(tiny_dasr_config, ["train.degradation=realesrgan"]), CPU, 1, None)


def test_checkpoints_hold_the_queue_and_the_key_encoder(tmp_path):
    """What resume needs beyond the networks (exact resume across the stage boundary, 8 = 4 + 4 iterations of this
    config, is tests/deflow/test_exact_resume.py's for DASRModel and BlindSRModel)."""
    config = write_tiny_dasr_config(tmp_path)
    root = train(load_options(config, ["val.val_freq=null", "train.total_iter=1"]))
    moco = checkpoint.load(root / "checkpoints" / "iter_00000001.pth")["model"]["moco"]
    assert "queue" in moco and "key_encoder.features.0.weight" in moco


def test_the_crops_of_an_image_share_its_degradation_and_images_differ():
    pipeline = Pipeline.from_name_or_file("dasr_iso", 2)
    hr = torch.rand(1, 1, 3, 32, 32).expand(3, 2, 3, 32, 32)  # the same crop everywhere
    lr = degrade_shared(pipeline, hr, torch.Generator().manual_seed(0))
    assert lr.shape == (3, 2, 3, 16, 16)
    for i in range(3):
        assert torch.equal(lr[i, 0], lr[i, 1])  # one kernel per image, for both crops
    assert not torch.equal(lr[0, 0], lr[1, 0]) and not torch.equal(lr[1, 0], lr[2, 0])
    noisy = degrade_shared(Pipeline.from_name_or_file("dasr_aniso_noise", 2), hr, torch.Generator().manual_seed(0))
    assert not torch.equal(noisy[0, 0], noisy[0, 1])  # its own noise realisation per crop


def test_dasr_infers_without_any_kernel_through_test_sr(tiny_dasr_config, tmp_path, main_in_process):
    opt = load_options(tiny_dasr_config, ["train.total_iter=5", "logger.save_checkpoint_freq=5"])
    root = train(opt)
    gt, lq = write_pairs(tmp_path / "eval", 2, 40, 2)
    code, out, err = main_in_process(sr_tool.main, "--model_path", root / "checkpoints/iter_00000005.pth", "--input",
                                     lq, "--gt", gt, "--out", tmp_path / "sr_out", "--device", "cpu", "--tile", "0")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "sr_out/sr").iterdir()) == ["img0.png", "img1.png"]
    assert (tmp_path / "sr_out/metrics.json").exists()
    lr = as_batch({"x": torch.rand(3, 20, 20)})["x"]
    model = load_for_inference(root / "checkpoints/iter_00000005.pth", device="cpu")
    assert model.moco is None and model.infer(lr).shape == (1, 3, 40, 40)
