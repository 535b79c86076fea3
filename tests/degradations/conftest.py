"""Shared helpers for the degradations tests: small real photo crops and a PSNR formula."""
import pytest
import torch


def photo_crops(n: int = 4, size: int = 64) -> torch.Tensor:
    """(n, 3, size, size) crops of skimage's colour photos, float in [0, 1]."""
    from degradations.bench import sample_crops

    return sample_crops(n, size, torch.Generator().manual_seed(0))


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB for images in [0, 1]."""
    mse = torch.mean((a.double() - b.double()) ** 2).item()
    return 10 * torch.log10(torch.tensor(1.0 / mse)).item()


@pytest.fixture
def crops() -> torch.Tensor:
    return photo_crops()
