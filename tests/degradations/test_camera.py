"""The camera benchmark's camera model: reproducible per seed, signal-dependent noise, strict parameters."""
import pytest
import torch

from deflow.errors import UserError
from degradations.camera import Camera, CameraParams


def test_camera_is_bit_identical_for_a_seed_and_differs_across_seeds(crops):
    hr = crops[:2]
    camera = Camera(CameraParams())
    first = camera(hr, torch.Generator().manual_seed(7))
    again = camera(hr, torch.Generator().manual_seed(7))
    other = camera(hr, torch.Generator().manual_seed(8))
    assert first.shape == (2, 3, 32, 32)
    assert torch.equal(first, again)
    assert not torch.equal(first, other)
    assert 0 <= float(first.min()) and float(first.max()) <= 1


def test_camera_noise_is_signal_dependent_and_strong_enough_to_matter():
    flat = torch.full((1, 3, 128, 128), 0.2), torch.full((1, 3, 128, 128), 0.8)
    camera = Camera(CameraParams(isp="srgb", jpeg_quality=0, blur_sigma=0))
    stds = [float(camera(x, torch.Generator().manual_seed(0)).std()) * 255 for x in flat]
    assert stds[0] != pytest.approx(stds[1], rel=0.1)
    assert min(stds) > 3


def test_camera_parameters_reject_unknown_keys():
    with pytest.raises(UserError, match="read_sd"):
        CameraParams.from_dict({"read_sd": 0.01})
