"""Resume is exact for every registered model type that trains: 2N iterations straight and N, stop, resume to 2N end
with every tensor of the checkpoint equal (weights, EMA, optimizer and schedule state, extra model state, RNG)."""
import pytest
import torch

from deflow import checkpoint
from deflow.config import load_options
from deflow.registry import MODELS, load_plugins
from deflow.trainer import train
from tests.conftest import checkpoint_differences, leaves

CONFIGS = {"SRModel": "tiny_sr_config", "DeFlowModel": "tiny_deflow_config", "ToyTwoStageModel": "toy_two_stage_config",
           "ESRGANModel": "tiny_esrgan_config", "BurstHybridModel": "tiny_burst_hybrid_config",
           "DASRModel": "tiny_dasr_config", "BlindSRModel": "tiny_blindsr_config",
           "PSFTransferModel": "tiny_psf_transfer_config", "PSFRestoreModel": "tiny_psf_restore_config"}


@pytest.fixture
def tiny_burst_hybrid_config(tmp_path):
    from tests.sr.multiframe.bursts import write_tiny_burst_hybrid_config

    return write_tiny_burst_hybrid_config(tmp_path)


@pytest.fixture
def tiny_dasr_config(tmp_path):
    from tests.sr.dasr.conftest import write_tiny_dasr_config

    return write_tiny_dasr_config(tmp_path)


@pytest.fixture
def tiny_psf_transfer_config(tmp_path):
    from tests.sr.psf.configs import write_tiny_psf_config

    return write_tiny_psf_config(tmp_path, "PSFTransferModel")


@pytest.fixture
def tiny_psf_restore_config(tmp_path):
    from tests.sr.psf.configs import write_tiny_psf_config

    return write_tiny_psf_config(tmp_path, "PSFRestoreModel")


@pytest.fixture
def tiny_blindsr_config(tmp_path):
    from tests.sr.dasr.conftest import write_tiny_dasr_config

    return write_tiny_dasr_config(tmp_path, "BlindSRModel")


def test_every_trained_model_type_is_covered(toy_two_stage_config):
    load_plugins()
    trained = {name for name in MODELS.names() if MODELS.get(name).TRAINED}
    assert trained <= set(CONFIGS), f"add a tiny config for {sorted(trained - set(CONFIGS))} to this test"


@pytest.mark.parametrize("model_type", sorted(CONFIGS))
def test_resume_continues_exactly(model_type, request, tmp_path):
    config = request.getfixturevalue(CONFIGS[model_type])
    total = load_options(config)["train"]["total_iter"]
    half = total // 2
    base = ["val.val_freq=null", f"logger.save_checkpoint_freq={half}"]
    train(load_options(config, [*base, f"path.experiments_root={tmp_path / 'straight'}"]))
    train(load_options(config, [*base, f"path.experiments_root={tmp_path / 'split'}", f"train.total_iter={half}"]))
    train(load_options(config, [*base, f"path.experiments_root={tmp_path / 'split'}"]), resume="auto")
    final = f"checkpoints/iter_{total:08d}.pth"
    tensors = sum(torch.is_tensor(v) for _, v in leaves(checkpoint.load(tmp_path / "straight" / final)))
    assert tensors >= 5  # weights, optimizer state, RNG at the least
    differing = checkpoint_differences(tmp_path / "straight" / final, tmp_path / "split" / final)
    assert not differing, f"{model_type}: {differing[:5]} differ after resume"
