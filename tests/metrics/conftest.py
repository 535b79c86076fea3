"""Fixtures for the metrics tests: a local LPIPS backbone file, or none at all."""
import pytest
import torch


@pytest.fixture(scope="session")
def alexnet_backbone(tmp_path_factory):
    """A torchvision AlexNet state_dict file with fixed random weights (ImageNet weights are not downloadable here)."""
    import torchvision

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("backbone") / "alexnet-random.pth"
    torch.save(torchvision.models.alexnet(weights=None).state_dict(), path)
    return path


@pytest.fixture
def no_cached_backbone(tmp_path, monkeypatch):
    """A torch hub cache without weights and no DEFLOW_LPIPS_BACKBONE: LPIPS has no backbone to find."""
    from metrics.lpips_metric import BACKBONE_ENV

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.delenv(BACKBONE_ENV, raising=False)
