"""What the fault suite shares: the bad-input corpus and tiny trained models, made once per session."""
import pytest

from deflow import checkpoint
from deflow.config import load_options
from deflow.tools.bad_inputs import write_corpus, write_good
from deflow.trainer import train
from tests.conftest import write_tiny_deflow_config, write_tiny_sr_config
from tests.sr.dasr.conftest import write_tiny_dasr_config


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> dict:
    """{case name: its folder} of deflow/tools/bad_inputs.py, generated into a temporary folder."""
    return write_corpus(tmp_path_factory.mktemp("bad"))


@pytest.fixture(scope="session")
def models(tmp_path_factory) -> dict:
    """Tiny SR, DeFlow and DASR configs and checkpoints, and a folder of good images."""
    folder = tmp_path_factory.mktemp("models")
    sr_config = write_tiny_sr_config(folder / "sr")
    sr_root = train(load_options(sr_config, ["train.total_iter=1", "val.val_freq=null"]))
    deflow_config = write_tiny_deflow_config(folder / "deflow")
    deflow_root = train(load_options(deflow_config, ["train.total_iter=1"]))
    dasr_root = train(load_options(write_tiny_dasr_config(folder / "dasr"), ["train.total_iter=5"]))
    return {"dasr": checkpoint.latest(dasr_root / "checkpoints"),"sr_config": sr_config, "sr": checkpoint.latest(sr_root / "checkpoints"), "deflow_config": deflow_config,
            "deflow": checkpoint.latest(deflow_root / "checkpoints"), "good": write_good(folder / "images")}
