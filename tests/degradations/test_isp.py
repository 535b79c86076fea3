import pytest
import torch

from degradations.blur import blur
from degradations.isp import (chen_phone_params, demosaic, mosaic, process, sample_isp_params, sample_noise_levels,
                              sensor_noise, unprocess)
from degradations.kernels import gaussian_kernel
from tests.degradations.conftest import psnr


def cameras():
    return [sample_isp_params(torch.Generator().manual_seed(s), batch=4) for s in range(3)] + [chen_phone_params(4)]


@pytest.mark.parametrize("camera", range(4))
def test_process_inverts_unprocess_without_mosaic(crops, camera):
    x = 0.05 + 0.75 * crops  # keeps camera values inside [0, 1] and linear gray below the highlight knee
    params = cameras()[camera]
    assert (process(unprocess(x, params), params) - x).abs().max() < 1e-3


@pytest.mark.parametrize("method", ["bilinear", "opencv"])
def test_mosaic_round_trip_meets_the_documented_psnr_bound(crops, method):
    x = 0.1 + 0.7 * blur(crops, gaussian_kernel(9, 1.0))  # band-limited: Gaussian blur of std 1 px
    params = sample_isp_params(torch.Generator().manual_seed(0), batch=4)
    raw = unprocess(x, params, mosaic_output=True)
    assert raw.shape == (4, 1, 64, 64)
    assert psnr(process(raw, params, method), x) >= 38


@pytest.mark.parametrize("method", ["bilinear", "opencv"])
def test_demosaic_restores_a_constant_colour_exactly(method):
    colour = torch.tensor([0.2, 0.5, 0.8]).reshape(1, 3, 1, 1).expand(2, 3, 10, 12)
    assert (demosaic(mosaic(colour), method) - colour).abs().max() < 1e-4


def test_mosaic_puts_red_green_green_blue_on_each_2x2_block():
    x = torch.stack([torch.full((4, 4), v) for v in (1.0, 2.0, 3.0)])[None]
    assert mosaic(x)[0, 0, :2, :2].tolist() == [[1.0, 2.0], [2.0, 3.0]]


def test_read_noise_follows_brooks_log_linear_relation_to_shot_noise():
    shot, read = sample_noise_levels(torch.Generator().manual_seed(0), batch=4000)
    assert shot.min() >= 1e-4 and shot.max() <= 0.012
    ls, lr = shot.double().log(), read.double().log()
    slope = ((ls - ls.mean()) * (lr - lr.mean())).sum() / ((ls - ls.mean()) ** 2).sum()
    residual = lr - (2.18 * ls + 1.20)
    assert slope.item() == pytest.approx(2.18, abs=0.05)
    assert residual.mean().abs() < 0.03 and residual.std().item() == pytest.approx(0.26, rel=0.05)


def test_sensor_read_noise_is_amplified_in_shadows_by_the_gamma_curve():
    params = chen_phone_params(2)
    flat = torch.stack([torch.full((3, 64, 64), 0.2), torch.full((3, 64, 64), 0.8)])
    shot, read = torch.full((2,), 1e-8), torch.full((2,), 1e-5)
    noisy = sensor_noise(flat, params, shot, read, torch.Generator().manual_seed(0))
    dark, bright = (noisy - flat).std(dim=(1, 2, 3)).tolist()
    assert dark > 2 * bright > 0
