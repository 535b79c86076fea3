"""The domain shift: clean ~ N(0, I), degraded ~ N(mu, I + A A^T) per pixel, u ~ N(mu, A A^T), and the
posterior used to translate back."""
import pytest
import torch
from torch.distributions import MultivariateNormal

from deflow.flow import DomainShift


def random_shift(channels=5, seed=0):
    torch.manual_seed(seed)
    shift = DomainShift(channels)
    with torch.no_grad():
        shift.mean_shift.normal_()
        shift.A.normal_(std=0.7)
    return shift


def test_log_prob_matches_multivariate_normal():
    shift = random_shift()
    z = torch.randn(4, 5, 3, 2, dtype=torch.float64)
    label = torch.tensor([0, 1, 1, 0])
    mu, a = shift.mean_shift.double().detach(), shift.A.double().detach()
    degraded = MultivariateNormal(mu, torch.eye(5, dtype=torch.float64) + a @ a.T)
    clean = MultivariateNormal(torch.zeros(5, dtype=torch.float64), torch.eye(5, dtype=torch.float64))
    pixels = z.permute(0, 2, 3, 1)
    expected = torch.where(label.bool(), degraded.log_prob(pixels).sum((1, 2)), clean.log_prob(pixels).sum((1, 2)))
    assert torch.allclose(shift.log_prob(z, label), expected, rtol=1e-10)
    assert torch.allclose(shift.log_prob(z, 1), degraded.log_prob(pixels).sum((1, 2)), rtol=1e-10)


@pytest.mark.parametrize("std_init_shift, frozen", [(0.01, False), (0.0, True)])
def test_A_learns_only_when_initialised_away_from_zero(std_init_shift, frozen):
    """DeFlow's released configs set std_init_shift 0: the gradient of A A^T vanishes at A = 0 (issue #2)."""
    shift = DomainShift(6, std_init_shift)
    shift.log_prob(torch.randn(3, 6, 4, 4) * 2, 1).sum().backward()
    assert (shift.A.grad.abs().max() == 0) == frozen
    assert shift.mean_shift.grad.abs().max() > 0


def empirical_mean_cov(samples):
    pixels = samples.permute(0, 2, 3, 1).reshape(-1, samples.shape[1]).double()
    return pixels.mean(0), torch.cov(pixels.T)


def test_shift_and_sample_have_the_stated_moments():
    shift = random_shift(channels=3)
    mu, a = shift.mean_shift.double().detach(), shift.A.double().detach()
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        mean, cov = empirical_mean_cov(shift.sample_shift((50, 3, 20, 20), g))
        assert torch.allclose(mean, mu, atol=0.03) and torch.allclose(cov, a @ a.T, atol=0.05)
        mean, cov = empirical_mean_cov(shift.sample((50, 3, 20, 20), 1, g))
        eye = torch.eye(3, dtype=torch.float64)
        assert torch.allclose(mean, mu, atol=0.03) and torch.allclose(cov, eye + a @ a.T, atol=0.05)
        mean, cov = empirical_mean_cov(shift.sample((50, 3, 20, 20), 0, g))
        assert torch.allclose(mean, torch.zeros(3, dtype=torch.float64), atol=0.03)


def test_posterior_is_the_gaussian_conditional_of_the_clean_latent():
    shift = random_shift(channels=3)
    sigma = shift.sigma().detach()
    eye = torch.eye(3, dtype=torch.float64)
    z = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    with torch.no_grad():
        mean = shift.posterior(z)
        centred = (z - shift.mean_shift.double().view(1, 3, 1, 1)).permute(0, 2, 3, 1)
        expected = torch.linalg.solve(eye + sigma, centred[..., None])
        assert torch.allclose(mean, expected[..., 0].permute(0, 3, 1, 2), atol=1e-10)
        draws = shift.posterior(z[:1, :, :1, :1].expand(20000, -1, -1, -1), torch.Generator().manual_seed(0), heat=1.0)
    _, cov = empirical_mean_cov(draws)
    assert torch.allclose(cov, sigma @ torch.linalg.inv(eye + sigma), atol=0.03)


def test_posterior_undoes_a_pure_mean_shift_exactly():
    shift = DomainShift(4, std_init_shift=0.0)
    with torch.no_grad():
        shift.mean_shift.normal_()
        z = torch.randn(2, 4, 3, 3)
        assert torch.allclose(shift.posterior(z + shift.sample_shift(z.shape)), z, atol=1e-6)
