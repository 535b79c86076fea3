"""network_g.domain_filter: y = K x' with K a per-channel blur and detail gain. Its inverse, its log-determinant
against autograd's Jacobian, its response to a sinusoid, maximum likelihood recovering a planted K, and DeFlowNet's
density of degraded images through it."""
import math

import pytest
import torch

from deflow.flow.deflow_net import DeFlowNet
from deflow.flow.domain_filter import DomainFilter


def planted(sigma=(0.8, 0.5, 1.1), gain=(0.7, 0.9, 1.2)) -> DomainFilter:
    k = DomainFilter(3).double()
    with torch.no_grad():
        k.blur_sigma.copy_(torch.tensor(sigma, dtype=torch.float64))
        k.log_gain.copy_(torch.tensor(gain, dtype=torch.float64).log())
    return k


def fit_filter(truth: DomainFilter, lr: float, steps: int) -> DomainFilter:
    """A fresh K fitted by Adam to y = K_true x', x' white N(0, 1) of 8 images of 32x32: maximises
    log N(K^-1 y) - log |det K|."""
    with torch.no_grad():
        y = truth.filter(torch.randn(8, 3, 32, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(0)))
    k = DomainFilter(3).double()
    optimizer = torch.optim.Adam(k.parameters(), lr=lr)
    for _ in range(steps):
        optimizer.zero_grad()
        nll = 0.5 * k.unfilter(y).square().sum() / y.shape[0] + k.log_det(*y.shape[-2:])
        nll.backward()
        optimizer.step()
    return k


def test_unfilter_inverts_filter_and_log_det_is_the_jacobians():
    k = planted()
    x = torch.randn(2, 3, 6, 5, dtype=torch.float64)
    assert torch.allclose(k.unfilter(k.filter(x)), x, atol=1e-10)
    jacobian = torch.autograd.functional.jacobian(lambda v: k.filter(v.view(1, 3, 6, 5)).flatten(), x[0].flatten())
    assert k.log_det(6, 5).item() == pytest.approx(torch.linalg.slogdet(jacobian)[1].item(), abs=1e-8)


def test_a_sinusoid_comes_out_scaled_by_the_response_and_the_mean_is_kept():
    k = planted()
    size, cycles = 64, 12  # f = 12 / 64 cycles/px along x
    x = torch.arange(size, dtype=torch.float64)
    wave = 0.4 + 0.1 * torch.cos(2 * math.pi * cycles * x / size).expand(1, 3, size, size)
    out = k.filter(wave)
    f = cycles / size
    for c, (s, g) in enumerate(zip((0.8, 0.5, 1.1), (0.7, 0.9, 1.2))):
        expected = 0.4 + g * math.exp(-2 * math.pi ** 2 * s ** 2 * f ** 2) * (wave[0, c] - 0.4)
        assert torch.allclose(out[0, c], expected, atol=1e-10)


def test_maximum_likelihood_recovers_a_planted_filter():
    """x' white N(0, 1) per pixel (the flow's density here), y = K_true x': maximising log N(K^-1 y) - log |det K|
    over K's parameters finds K_true's blur and gain within 5 %."""
    truth = planted()
    k = fit_filter(truth, lr=0.05, steps=400)
    assert torch.allclose(k.sigma(), truth.sigma(), rtol=0.05), (k.sigma(), truth.sigma())
    assert torch.allclose(k.gain(), truth.gain(), rtol=0.05), (k.gain(), truth.gain())


def test_the_blur_is_reachable_at_the_benchmarks_learning_rate():
    """From its start (0.05 px), Adam at deflow-bench.yml's lr 5e-4 must be able to move the blur to a camera's
    0.3 px within 1,000 steps: Adam's steps are about lr in each parameter, so sigma must be the parameter (as
    softplus(p) = sigma^2 it would need p to travel 3.7, and would stay below 0.07 px)."""
    truth = planted(sigma=(0.3, 0.3, 0.3), gain=(1.0, 1.0, 1.0))
    k = fit_filter(truth, lr=5e-4, steps=1000)
    assert torch.allclose(k.sigma(), truth.sigma(), rtol=0.1), k.sigma()


def test_deflow_net_scores_degraded_images_through_the_filter():
    """The degraded density is the plain net's of K^-1 y, less log |det K|; clean images do not see K; K learns; a
    translation is DeFlow's decode followed by K, which starts close to the identity."""
    kwargs = dict(L=2, K=1, hidden_channels=8, n_transition=0, cond_nf=4, cond_nb=1, cond_gc=4, scale=4)
    torch.manual_seed(0)
    net = DeFlowNet(domain_filter=True, **kwargs)
    torch.manual_seed(0)
    plain = DeFlowNet(**kwargs)
    plain.load_state_dict({k: v for k, v in net.state_dict().items() if not k.startswith("domain_filter.")})
    with torch.no_grad():
        net.domain_filter.blur_sigma.fill_(0.7)
        net.domain_filter.log_gain.fill_(math.log(0.8))
    y, lq = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 4, 4)
    label = torch.tensor([1, 0])
    got = net.nll(y, lq, label, dequant_noise=False, generator=torch.Generator().manual_seed(1)).bits_per_dim
    unfiltered = torch.stack([net.domain_filter.unfilter(y[:1])[0], y[1]]).detach()
    want = plain.nll(unfiltered, lq, label, dequant_noise=False, generator=torch.Generator().manual_seed(1)).bits_per_dim
    dims = y[0].numel()
    want = want + torch.tensor([1.0, 0.0]) * net.domain_filter.log_det(16, 16).item() / (dims * math.log(2))
    assert torch.allclose(got, want, atol=1e-5)
    got.sum().backward()
    assert net.domain_filter.blur_sigma.grad.abs().max() > 0 and net.domain_filter.log_gain.grad.abs().max() > 0

    torch.manual_seed(0)
    fresh = DeFlowNet(domain_filter=True, **kwargs)
    torch.manual_seed(0)
    fresh_plain = DeFlowNet(**kwargs)  # both unused: ActNorm initialises on its first batch
    with torch.no_grad():
        a = fresh.translate(y, lq, torch.Generator().manual_seed(4))
        b = fresh_plain.translate(y, lq, torch.Generator().manual_seed(4))
    assert torch.allclose(a, fresh.domain_filter.filter(b), atol=1e-6)  # the same decode, then K
    response = fresh.domain_filter._log_response(16, 16).exp()
    assert response.min() > 0.975  # s = 0.05 px, g = 1 at the start: close to the identity
