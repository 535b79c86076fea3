"""network_g.latent_scale: a degraded latent is D z_x + u. The density N(mu, D^2 + A A^T) against torch's
MultivariateNormal, the moments of translated latents, the posterior against the joint Gaussian's conditional, and
DeFlowNet learning D."""
import torch
from torch.distributions import MultivariateNormal

from deflow.flow.content_shift import ContentShift
from deflow.flow.deflow_net import DeFlowNet
from deflow.flow.shift import DomainShift


def scaled_shift(channels=4, seed=0, content=False):
    torch.manual_seed(seed)
    shift = (ContentShift(channels, 5, latent_scale=True) if content else DomainShift(channels, latent_scale=True))
    shift = shift.double()
    with torch.no_grad():
        shift.A.copy_(torch.randn(channels, channels) * 0.5)
        shift.mean_shift.copy_(torch.randn(channels) * 0.3)
        shift.log_latent_scale.copy_(torch.linspace(-1.0, 0.3, channels))  # D from 0.37 to 1.35
        if content:
            shift.content.weight.normal_(0, 0.2)
            shift.content.bias.normal_(0, 0.2)
    return shift


def covariance(shift, scale=None):
    """D^2 + S A A^T S built apart from the module; S = I without `scale` (B, H, W, C)."""
    d2 = torch.diag(shift.log_latent_scale.detach().exp().square())
    a = shift.A.detach()
    if scale is None:
        return d2 + a @ a.T
    return d2 + scale[..., :, None] * (a @ a.T) * scale[..., None, :]


def test_the_degraded_density_is_the_gaussian_of_D_z_plus_u():
    shift = scaled_shift()
    z = torch.randn(3, 4, 2, 5, dtype=torch.float64)
    reference = MultivariateNormal(shift.mean_shift.detach(), covariance(shift))
    assert torch.allclose(shift.log_prob(z, 1), reference.log_prob(z.permute(0, 2, 3, 1)).sum((1, 2)), atol=1e-9)
    assert (torch.diagonal(covariance(shift)) < 1).any()  # less variance than the clean N(0, I): DeFlow cannot

    content = scaled_shift(content=True)
    cond = torch.randn(3, 5, 2, 5, dtype=torch.float64)
    mean, scale = content.mean_and_scale(cond)
    reference = MultivariateNormal(mean.permute(0, 2, 3, 1), covariance(content, scale.permute(0, 2, 3, 1)))
    expected = reference.log_prob(z.permute(0, 2, 3, 1)).sum((1, 2))
    assert torch.allclose(content.log_prob(z, 1, cond), expected, atol=1e-9)


def test_translated_latents_have_the_degraded_moments():
    shift = scaled_shift()
    clean = torch.randn(40, 4, 25, 25, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        degraded = shift.degrade(clean, torch.Generator().manual_seed(2))
    pixels = degraded.permute(0, 2, 3, 1).reshape(-1, 4)
    assert torch.allclose(pixels.mean(0), shift.mean_shift.detach(), atol=0.02)
    assert torch.allclose(torch.cov(pixels.T), covariance(shift), atol=0.03)


def test_the_posterior_is_the_joint_gaussians_conditional():
    """(z_x, z) jointly Gaussian with Cov z_x = I, Cov(z_x, z) = D, Cov z = M: E[z_x | z] = D M^-1 (z - mu) and
    Cov = I - D M^-1 D, here from torch.linalg.solve on the joint blocks; heat 1 draws have that covariance."""
    for content in (False, True):
        shift = scaled_shift(content=content)
        cond = torch.randn(1, 5, 1, 1, dtype=torch.float64)
        z = torch.randn(1, 4, 1, 1, dtype=torch.float64)
        with torch.no_grad():
            mean, scale = shift.mean_and_scale(cond) if content else (shift.mean_shift.view(1, 4, 1, 1), None)
            m = covariance(shift, None if scale is None else scale[0, :, 0, 0])
            d = torch.diag(shift.log_latent_scale.exp())
            expected = (d @ torch.linalg.solve(m, (z - mean)[0, :, 0, 0]))
            expected_cov = torch.eye(4, dtype=torch.float64) - d @ torch.linalg.solve(m, d)
            got = shift.posterior(z, cond=cond)[0, :, 0, 0]
            draws = torch.cat([shift.posterior(z, torch.Generator().manual_seed(i), 1.0, cond)
                               for i in range(3000)])[:, :, 0, 0]
        assert torch.allclose(got, expected, atol=1e-9), content
        assert torch.allclose(torch.cov(draws.T), expected_cov, atol=0.05), content


def test_deflow_net_learns_the_latent_scale_and_starts_as_deflow():
    kwargs = dict(L=2, K=1, hidden_channels=8, n_transition=0, cond_nf=4, cond_nb=1, cond_gc=4, scale=4)
    torch.manual_seed(0)
    scaled = DeFlowNet(latent_scale=True, **kwargs)
    torch.manual_seed(0)
    plain = DeFlowNet(**kwargs)
    missing, unexpected = plain.load_state_dict(scaled.state_dict(), strict=False)
    assert not missing and all("log_latent_scale" in k for k in unexpected) and unexpected
    gt, lq = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 4, 4)
    args = dict(dequant_noise=False, generator=torch.Generator().manual_seed(3))
    nll = scaled(gt, lq, 1, **args).bits_per_dim
    assert torch.allclose(nll, plain(gt, lq, 1, dequant_noise=False, generator=torch.Generator().manual_seed(3))
                          .bits_per_dim)  # D = I at the start: DeFlow's density
    nll.sum().backward()
    assert all(shift.log_latent_scale.grad.abs().max() > 0 for shift in scaled.shifts.values())
    with torch.no_grad():
        a = scaled.translate(gt, lq, torch.Generator().manual_seed(4))
        b = plain.translate(gt, lq, torch.Generator().manual_seed(4))
    assert torch.allclose(a, b, atol=1e-5)  # and DeFlow's translation
