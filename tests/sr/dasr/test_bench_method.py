"""The camera benchmark's dasr method: a config of its own that loads with the benchmark's options, and a pipeline
that degrades the clean photos for the realism columns (the method's full run: scripts/benchmark.py --quick
--methods bicubic dasr)."""
from types import SimpleNamespace

import torch

from deflow.bench.methods import DASR_CONFIG, METHODS, dasr_training
from deflow.bench.run import overrides
from deflow.config import load_options
from sr.dasr.degrade import build_pipeline


def test_dasr_trains_its_own_config_in_the_benchmarks_budget(tmp_path):
    bench = SimpleNamespace(photos=lambda role: tmp_path / role)
    config, sets = dasr_training(bench, 22)
    assert config == DASR_CONFIG and METHODS["dasr"].sr_training is dasr_training
    argv = overrides({**sets, "train.total_iter": 22})
    opt = load_options(config, [argv[i + 1] for i in range(0, len(argv), 2)])
    assert opt["model_type"] == "DASRModel" and opt["train"]["encoder_iters"] == 10
    assert opt["train"]["scheduler_e"]["milestones"] == [6] and opt["train"]["scheduler_g"]["milestones"] == [18]
    assert opt["datasets"]["train"]["dataroot_gt"] == str(tmp_path / "clean")
    pipeline = build_pipeline(opt["train"]["degradation"], 2)
    assert pipeline(torch.rand(1, 3, 32, 32), torch.Generator().manual_seed(0)).shape == (1, 3, 16, 16)
