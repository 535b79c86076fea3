"""The hybrid's fusion cache returns what the fusion returns, recomputes whenever the burst or a fusion setting
changes, stays within its size, and the fixed pool of training bursts repeats exactly."""
import torch

from deflow import checkpoint
from deflow.config import load_options
from deflow.registry import DATASETS, MODELS
from deflow.trainer import train
from tests.sr.multiframe.bursts import camera_burst, write_tiny_burst_hybrid_config


def tiny_model(tmp_path, *overrides):
    opt = load_options(write_tiny_burst_hybrid_config(tmp_path), list(overrides))
    return MODELS.get("BurstHybridModel")(opt, torch.device("cpu"))


def counting_fusion(model):
    """Wrap the model's fusion so that it counts the bursts it is asked to fuse."""
    calls, fuse = [], model.fusion
    model.fusion = lambda bursts: calls.append(len(bursts)) or fuse(bursts)
    return calls


def test_cached_fusion_equals_the_fusion_and_is_computed_once_per_burst(tmp_path):
    model = tiny_model(tmp_path)
    bursts = torch.stack([camera_burst(4, 48, seed).frames for seed in range(3)])
    direct = model.nets["f"](bursts)
    calls = counting_fusion(model)
    first = model.cached_fusion(bursts)
    again = model.cached_fusion(bursts[[2, 0]])
    assert calls == [3]
    for name, value in direct.items():
        assert torch.equal(first[name], value) and torch.equal(again[name], value[[2, 0]]), name
    inputs, _ = model.refiner_inputs(bursts, cached=True)
    assert calls == [3] and torch.equal(inputs[0], direct["image"])


def test_a_changed_setting_or_burst_is_fused_afresh_never_served_from_the_cache(tmp_path):
    model = tiny_model(tmp_path)
    burst = camera_burst(8, 48).frames[None]
    median = model.cached_fusion(burst)["image"]
    model.nets["f"].reducer = "mean"
    mean = model.cached_fusion(burst)["image"]
    assert torch.equal(mean, model.nets["f"](burst)["image"]) and not torch.equal(mean, median)
    nudged = burst.clone()
    nudged[0, 1, 0, 5, 5] += 1 / 255
    calls = counting_fusion(model)
    model.cached_fusion(nudged)
    assert calls == [1]


def test_the_cache_keeps_at_most_fusion_cache_bursts_and_off_means_off(tmp_path):
    bursts = torch.stack([camera_burst(3, 40, seed).frames for seed in range(6)])
    model = tiny_model(tmp_path)
    model.cached_fusion(bursts)
    assert len(model.cache) == 4
    calls = counting_fusion(model)
    model.cached_fusion(bursts[5:])
    assert calls == [] and len(model.cache) == 4
    off = tiny_model(tmp_path / "off", "train.fusion_cache=0")
    calls = counting_fusion(off)
    off.refiner_inputs(bursts[:2], cached=True)
    off.refiner_inputs(bursts[:2], cached=True)
    assert calls == [2, 2] and not off.cache


def test_num_bursts_makes_a_pool_that_repeats_and_without_it_every_sample_is_new(tmp_path):
    opt = load_options(write_tiny_burst_hybrid_config(tmp_path))["datasets"]["train"]
    pool = DATASETS.get("SyntheticBurstDataset")(opt)
    fresh = DATASETS.get("SyntheticBurstDataset")({**opt, "num_bursts": None})
    assert torch.equal(pool[1]["lq"], pool[5]["lq"]) and torch.equal(pool[1]["gt"], pool[9]["gt"])
    assert not torch.equal(pool[1]["lq"], pool[3]["lq"])
    assert torch.equal(fresh[1]["lq"], pool[1]["lq"]) and not torch.equal(fresh[1]["lq"], fresh[5]["lq"])


def test_training_with_the_cache_gives_the_same_weights_as_without(tmp_path):
    config = write_tiny_burst_hybrid_config(tmp_path)
    roots = [train(load_options(config, ["val.val_freq=null", f"train.fusion_cache={size}",
                                         f"path.experiments_root={tmp_path / str(size)}"])) for size in (4, 0)]
    weights = [checkpoint.load(r / "checkpoints" / "iter_00000004.pth")["model"]["nets"]["g"]
               for r in roots]
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
