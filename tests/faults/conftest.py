"""What the fault suite shares: the bad-input corpus and tiny trained models, made once per session."""
import pytest
import yaml

from deflow import checkpoint
from deflow.config import load_options
from deflow.tools.bad_inputs import write_corpus, write_good
from deflow.trainer import train
from tests.conftest import write_tiny_deflow_config, write_tiny_sr_config
from tests.sr.dasr.conftest import write_tiny_dasr_config


def write_wiener_config(folder):
    """A Wiener restorer (nothing to train) of a small planted PSF field."""
    from deflow.psf.synthetic import planted_field
    from degradations.psf import save_psf_field

    folder.mkdir(parents=True)
    save_psf_field(folder / "field.safetensors", planted_field((2, 2), 5, (5, 5, 5)), {"kernel_sizes": [5, 5, 5]})
    config = folder / "wiener.yml"
    config.write_text(yaml.safe_dump({"name": "wiener", "model_type": "PSFWienerModel", "network_g": {
        "type": "WienerField", "field_path": str(folder / "field.safetensors"), "inv_snr": 1e-3}}))
    return config


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
    return {"sr_config": sr_config, "sr": checkpoint.latest(sr_root / "checkpoints"), "deflow_config": deflow_config,
            "dasr": checkpoint.latest(dasr_root / "checkpoints"),
            "psf_wiener_config": write_wiener_config(folder / "psf"),
            "deflow": checkpoint.latest(deflow_root / "checkpoints"), "good": write_good(folder / "images")}
