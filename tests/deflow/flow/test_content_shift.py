"""ContentShift: the per-pixel log-density against torch's MultivariateNormal, the samples' covariance, the posterior,
and DeFlowNet with network_g.content_shift (starts as DeFlow's shift, learns, translates)."""
import torch
from torch.distributions import MultivariateNormal

from deflow.flow.content_shift import ContentShift, GaussianLogDensity
from deflow.flow.deflow_net import DeFlowNet
from deflow.flow.shift import DomainShift


def random_shift(channels=4, cond_channels=5, seed=0):
    torch.manual_seed(seed)
    shift = ContentShift(channels, cond_channels).double()
    with torch.no_grad():
        shift.A.copy_(torch.randn(channels, channels) * 0.7)
        shift.mean_shift.copy_(torch.randn(channels) * 0.3)
        shift.content.weight.normal_(0, 0.2)
        shift.content.bias.normal_(0, 0.2)
    return shift


def pixel_covariances(shift, cond):
    """I + S A A^T S of every pixel, built independently of the module, (B, H, W, C, C)."""
    _, scale = shift.mean_and_scale(cond)
    s = scale.permute(0, 2, 3, 1)
    cov_u = s[..., :, None] * (shift.A @ shift.A.T) * s[..., None, :]
    return torch.eye(shift.A.shape[0], dtype=torch.float64) + cov_u


def test_log_prob_matches_a_multivariate_normal_per_pixel():
    shift = random_shift()
    cond = torch.randn(2, 5, 3, 4, dtype=torch.float64)
    z = torch.randn(2, 4, 3, 4, dtype=torch.float64)
    mean, _ = shift.mean_and_scale(cond)
    reference = MultivariateNormal(mean.permute(0, 2, 3, 1), covariance_matrix=pixel_covariances(shift, cond))
    expected = reference.log_prob(z.permute(0, 2, 3, 1)).sum((1, 2))
    assert torch.allclose(shift.log_prob(z, 1, cond), expected, atol=1e-9)
    clean = MultivariateNormal(torch.zeros(4, dtype=torch.float64), torch.eye(4, dtype=torch.float64))
    assert torch.allclose(shift.log_prob(z, 0, cond), clean.log_prob(z.permute(0, 2, 3, 1)).sum((1, 2)), atol=1e-9)
    mixed = shift.log_prob(z, torch.tensor([0, 1]), cond)
    assert torch.allclose(mixed, torch.stack([clean.log_prob(z[0].permute(1, 2, 0)).sum(), expected[1]]), atol=1e-9)



def test_gaussian_log_density_gradient_matches_finite_differences():
    torch.manual_seed(1)
    diff = torch.randn(5, 3, 1, dtype=torch.float64, requires_grad=True)
    root = torch.randn(5, 3, 3, dtype=torch.float64, requires_grad=True)
    # the covariance built symmetric from `root`, as the shift builds it: its closed-form gradient assumes symmetry
    density = lambda d, r: GaussianLogDensity.apply(d, torch.eye(3, dtype=torch.float64) + r @ r.transpose(1, 2))
    assert torch.autograd.gradcheck(density, (diff, root))


def test_log_prob_gradients_match_a_multivariate_normal_in_a_mixed_batch():
    shift = random_shift()
    cond = torch.randn(3, 5, 3, 4, dtype=torch.float64)
    z = torch.randn(3, 4, 3, 4, dtype=torch.float64, requires_grad=True)
    label = torch.tensor([1, 0, 1])

    def gradients(log_p):
        log_p.sum().backward()
        grads = [z.grad.clone()] + [p.grad.clone() for p in shift.parameters()]
        z.grad = None
        shift.zero_grad()
        return grads

    ours = gradients(shift.log_prob(z, label, cond))
    mean, _ = shift.mean_and_scale(cond)
    degraded = MultivariateNormal(mean.permute(0, 2, 3, 1), covariance_matrix=pixel_covariances(shift, cond))
    clean = MultivariateNormal(torch.zeros(4, dtype=torch.float64), torch.eye(4, dtype=torch.float64))
    pixels = z.permute(0, 2, 3, 1)
    reference = torch.where(label.bool(), degraded.log_prob(pixels).sum((1, 2)), clean.log_prob(pixels).sum((1, 2)))
    for a, b in zip(ours, gradients(reference)):
        assert torch.allclose(a, b, atol=1e-9)
    assert ours[0][1].abs().sum() > 0 and not torch.allclose(ours[0][1], ours[0][0])

def test_at_initialisation_it_is_deflows_shift():
    torch.manual_seed(3)
    content, plain = ContentShift(4, 5, 0.5).double(), DomainShift(4, 0.5).double()
    with torch.no_grad():
        plain.mean_shift.copy_(torch.randn(4))
        content.mean_shift.copy_(plain.mean_shift)
    z, cond = torch.randn(2, 4, 3, 3, dtype=torch.float64), torch.randn(2, 5, 3, 3, dtype=torch.float64)
    assert torch.allclose(content.log_prob(z, 1, cond), plain.log_prob(z, 1), atol=1e-9)
    assert torch.allclose(content.posterior(z, cond=cond), plain.posterior(z), atol=1e-9)


def test_samples_have_the_predicted_mean_and_covariance():
    shift = random_shift()
    cond = torch.randn(1, 5, 1, 1, dtype=torch.float64).expand(20000, 5, 1, 1)
    u = shift.sample_shift((20000, 4, 1, 1), torch.Generator().manual_seed(0), cond)[:, :, 0, 0]
    mean, _ = shift.mean_and_scale(cond[:1])
    expected = pixel_covariances(shift, cond[:1])[0, 0, 0] - torch.eye(4, dtype=torch.float64)
    assert torch.allclose(u.mean(0), mean[0, :, 0, 0], atol=0.05)
    assert torch.allclose(torch.cov(u.T), expected, atol=0.08 * expected.abs().max().item())


def test_posterior_mean_and_spread():
    shift = random_shift()
    cond = torch.randn(1, 5, 1, 1, dtype=torch.float64)
    z = torch.randn(1, 4, 1, 1, dtype=torch.float64)
    mean, _ = shift.mean_and_scale(cond)
    m = pixel_covariances(shift, cond)[0, 0, 0]
    expected = torch.linalg.solve(m, (z - mean)[0, :, 0, 0])  # E[z_x | z] for z_x ~ N(0, I), z = z_x + u
    assert torch.allclose(shift.posterior(z, cond=cond)[0, :, 0, 0], expected, atol=1e-9)
    many = torch.cat([shift.posterior(z, torch.Generator().manual_seed(i), 1.0, cond) for i in range(4000)])[:, :, 0, 0]
    assert torch.allclose(torch.cov(many.T), torch.eye(4, dtype=torch.float64) - torch.linalg.inv(m), atol=0.05)


def tiny_net(**extra):
    torch.manual_seed(0)
    return DeFlowNet(L=2, K=1, hidden_channels=8, cond_nf=8, cond_nb=1, cond_gc=4, scale=4, **extra)


def test_deflownet_with_content_shift_starts_as_deflow_and_learns_it():
    plain, content = tiny_net(), tiny_net(content_shift=True)
    missing = content.load_state_dict(plain.state_dict(), strict=False).missing_keys
    assert missing and all(".content." in k for k in missing)
    gt, lq = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 4, 4)
    nll = [net.nll(gt, lq, 1, generator=torch.Generator().manual_seed(1)).bits_per_dim for net in (plain, content)]
    assert torch.allclose(nll[0], nll[1], atol=1e-6)
    nll[1].mean().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for n, p in content.named_parameters() if ".content." in n)
    with torch.no_grad():
        for shift in content.shifts.values():
            shift.content.weight.normal_(0, 0.1)
        generator = torch.Generator().manual_seed(2)
        assert content.translate(gt, lq, generator).shape == gt.shape
        assert content.translate_back(gt, lq, generator).shape == gt.shape
        assert content.sample(lq, 1, generator).shape == gt.shape
        assert torch.isfinite(content.nll(gt, lq, 1).bits_per_dim).all()


def test_a_domain_split_prior_starts_shared_inverts_per_domain_and_learns():
    from deflow.flow.split import Split

    torch.manual_seed(0)
    split = Split(8, domain_prior=True)
    with torch.no_grad():
        split.prior.conv.weight.normal_(0, 0.1)
    x = torch.randn(2, 8, 4, 4)
    shared = Split(8)
    shared.load_state_dict(split.state_dict(), strict=False)
    assert torch.equal(split(x, label=1)[0][1], shared(x)[0][1])  # zero correction at initialisation
    with torch.no_grad():
        split.degraded_prior.conv.weight.normal_(0, 0.1)
    for label in (0, 1, torch.tensor([0, 1])):
        (z1, eps), logdet = split(x, label=label)
        back, neg = split((z1, eps), reverse=True, label=label)
        assert torch.allclose(back, x, atol=1e-5) and torch.allclose(logdet, -neg)
    assert torch.equal(split(x, label=0)[0][1], shared(x)[0][1])  # the clean domain keeps the shared prior
    assert not torch.allclose(split(x, label=1)[0][1], split(x, label=0)[0][1])


def test_deflownet_with_a_domain_split_prior_trains_and_translates():
    plain, split = tiny_net(), tiny_net(domain_split_prior=True)
    split.load_state_dict(plain.state_dict(), strict=False)
    gt, lq = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 4, 4)
    nll = [net.nll(gt, lq, torch.tensor([0, 1]), generator=torch.Generator().manual_seed(1)).bits_per_dim
           for net in (plain, split)]
    assert torch.allclose(nll[0], nll[1], atol=1e-6)
    nll[1].mean().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for n, p in split.named_parameters() if "degraded_prior" in n)
    with torch.no_grad():
        assert split.translate(gt, lq, torch.Generator().manual_seed(2)).shape == gt.shape
        assert split.sample(lq, 1, torch.Generator().manual_seed(3)).shape == gt.shape
