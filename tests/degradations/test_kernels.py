import math

import pytest
import torch

from degradations.kernel_sampling import REALESRGAN_KERNEL1, KERNEL_FAMILIES, kernel_from_params, random_kernels
from degradations.kernels import (gaussian_kernel, generalized_gaussian_kernel, kernel_grid, motion_kernel,
                                  plateau_kernel, sinc_kernel)


def covariance(k: torch.Tensor) -> torch.Tensor:
    """Empirical 2x2 covariance of a kernel seen as a density over (x = column, y = row)."""
    k = k.double()
    x, y = kernel_grid(k.shape[-1])
    mx, my = (k * x).sum(), (k * y).sum()
    dx, dy = x - mx, y - my
    cxy = (k * dx * dy).sum()
    return torch.stack([torch.stack([(k * dx * dx).sum(), cxy]), torch.stack([cxy, (k * dy * dy).sum()])])


def rotated(sx: float, sy: float, theta: float) -> torch.Tensor:
    c, s = math.cos(theta), math.sin(theta)
    r = torch.tensor([[c, -s], [s, c]], dtype=torch.float64)
    return r @ torch.diag(torch.tensor([sx * sx, sy * sy], dtype=torch.float64)) @ r.T


def gen_gauss_factor(beta: float) -> float:
    return 2 ** (1 / beta) * math.gamma(2 / beta) / (2 * math.gamma(1 / beta))


DIRECTION = torch.tensor([math.cos(0.6), math.sin(0.6)], dtype=torch.float64)
CASES = {
    "iso": (gaussian_kernel(41, 2.5), rotated(2.5, 2.5, 0)),
    "aniso": (gaussian_kernel(61, 3.0, 1.5, 0.6), rotated(3.0, 1.5, 0.6)),
    "generalized_peaky": (generalized_gaussian_kernel(121, 3.0, 1.5, 0.6, beta=0.7),
                          rotated(3.0, 1.5, 0.6) * gen_gauss_factor(0.7)),
    "generalized_flat": (generalized_gaussian_kernel(61, 3.0, 1.5, -1.0, beta=3.0),
                         rotated(3.0, 1.5, -1.0) * gen_gauss_factor(3.0)),
    "plateau": (plateau_kernel(201, 3.0, 1.5, 0.6, beta=4.0), rotated(3.0, 1.5, 0.6) / (4 * math.cos(math.pi / 4))),
    "motion": (motion_kernel(41, 15.0, 0.6), 15.0 ** 2 / 12 * torch.outer(DIRECTION, DIRECTION)
               + 0.5 ** 2 * torch.eye(2, dtype=torch.float64)),
}


@pytest.mark.parametrize("name", CASES)
def test_kernel_sums_to_one_and_has_expected_covariance(name):
    kernel, expected = CASES[name]
    assert kernel.dtype == torch.float32
    assert kernel.sum().item() == pytest.approx(1.0, abs=1e-5)
    err = (covariance(kernel) - expected).abs().max() / expected.abs().max()
    assert err < 0.02, (covariance(kernel), expected)


def test_sinc_kernel_sums_to_one_is_isotropic_and_passes_only_below_its_cutoff():
    omega = math.pi / 2
    k = sinc_kernel(101, omega)
    assert k.sum().item() == pytest.approx(1.0, abs=1e-5)
    cov = covariance(k)
    assert cov[0, 1].abs() < 1e-6 and torch.allclose(cov[0, 0], cov[1, 1])
    offsets = torch.arange(101, dtype=torch.float64) - 50
    freq = torch.linspace(-math.pi, math.pi, 97, dtype=torch.float64)
    basis = torch.exp(-1j * freq[:, None] * offsets[None, :])
    spectrum = (basis @ k.double().to(basis.dtype) @ basis.T).abs()
    radius = torch.sqrt(freq[:, None] ** 2 + freq[None, :] ** 2)
    assert (spectrum[radius < 0.8 * omega] - 1).abs().max() < 0.1
    assert spectrum[(radius > 1.2 * omega) & (radius < math.pi)].max() < 0.1


def test_batched_kernels_equal_kernels_built_one_by_one():
    sx, sy, th = torch.tensor([1.0, 2.5]), torch.tensor([0.5, 1.5]), torch.tensor([0.3, -1.2])
    beta = torch.tensor([0.6, 3.0])
    for fn in (generalized_gaussian_kernel, plateau_kernel):
        batched = fn(21, sx, sy, th, beta)
        assert batched.shape == (2, 21, 21)
        for i in range(2):
            one = fn(21, sx[i].item(), sy[i].item(), th[i].item(), beta[i].item())
            assert torch.allclose(batched[i], one, atol=1e-7)
    batched = gaussian_kernel(21, sx, sy, th)
    assert torch.allclose(batched[1], gaussian_kernel(21, 2.5, 1.5, -1.2), atol=1e-7)


@pytest.mark.parametrize("family", KERNEL_FAMILIES)
def test_every_kernel_family_builds_a_normalised_kernel(family):
    k = kernel_from_params({"kernel": family, "size": 15, "sigma_x": 2.0, "sigma_y": 1.0, "theta": 0.5,
                            "beta_g": 2.0, "beta_p": 1.5, "omega_c": 1.5, "length": 7.0, "angle": 1.0})
    assert k.shape == (15, 15) and k.sum().item() == pytest.approx(1.0, abs=1e-5)


def test_random_realesrgan_kernels_are_seeded_normalised_and_padded_to_21():
    a = random_kernels(32, torch.Generator().manual_seed(5), REALESRGAN_KERNEL1)
    b = random_kernels(32, torch.Generator().manual_seed(5), REALESRGAN_KERNEL1)
    c = random_kernels(32, torch.Generator().manual_seed(6), REALESRGAN_KERNEL1)
    assert a.shape == (32, 21, 21)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.allclose(a.sum(dim=(1, 2)), torch.ones(32), atol=1e-5)
