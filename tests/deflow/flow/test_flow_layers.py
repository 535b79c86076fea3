"""Every invertible layer keeps the contract of deflow.flow.base: it inverts, and its logdet is the
log-abs-determinant of its Jacobian. Parameters are perturbed so that zero-initialised nets are not trivial."""
import pytest
import torch

from deflow.flow import (ActNorm, CondAffineCoupling, CondAffineInjector, FlowSequence, FlowStep, InvConv1x1, Split,
                         Squeeze)


def perturb_(module, std=0.2):
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn_like(p) * std)


def coupling(channels):
    return CondAffineCoupling(channels, cond_channels=3, hidden_channels=8, eps=1e-3)


def injector(channels):
    return CondAffineInjector(channels, cond_channels=3, hidden_channels=8, eps=1e-3)


def step(channels):
    return FlowStep(channels, cond_channels=3, hidden_channels=8, eps=1e-3)


# name -> (factory, input shape, conditioning channels or None)
LAYERS = {
    "actnorm": (lambda: ActNorm(4), (1, 4, 3, 3), None),
    "invconv": (lambda: InvConv1x1(4), (1, 4, 3, 3), None),
    "coupling": (lambda: coupling(4), (1, 4, 3, 3), 3),
    "coupling_odd_channels": (lambda: coupling(5), (1, 5, 2, 2), 3),
    "injector": (lambda: injector(4), (1, 4, 3, 3), 3),
    "squeeze": (Squeeze, (1, 2, 4, 4), None),
    "split": (lambda: Split(4), (1, 4, 3, 3), None),
    "transition_step": (lambda: FlowStep(4), (1, 4, 3, 3), None),
    "flow_step": (lambda: step(4), (1, 4, 3, 3), 3),
    "sequence": (lambda: FlowSequence({"first": step(4), "second": step(4)}), (1, 4, 3, 3), 3),
}


def flat(output):
    return torch.cat([t.flatten() for t in output]) if isinstance(output, tuple) else output.flatten()


@pytest.fixture(params=sorted(LAYERS))
def layer_case(request):
    """A float64 layer after its data-dependent init (training mode, a wide batch), perturbed, in eval mode."""
    torch.manual_seed(0)
    factory, shape, cond_channels = LAYERS[request.param]
    layer = factory().double()
    x = torch.randn(*shape, dtype=torch.float64) * 2 + 0.5
    cond = None if cond_channels is None else torch.randn(shape[0], cond_channels, *shape[2:], dtype=torch.float64)
    warm_cond = None if cond is None else cond.expand(8, -1, -1, -1)
    layer.train()(torch.randn(8, *shape[1:], dtype=torch.float64) * 3 + 1, warm_cond)
    perturb_(layer)
    return layer.eval(), x, cond


def test_layer_inverts(layer_case):
    layer, x, cond = layer_case
    y, logdet = layer(x, cond)
    x_back, logdet_back = layer(y, cond, reverse=True)
    assert (x_back - x).abs().max() < 1e-5
    assert logdet.shape == (x.shape[0],)
    assert torch.allclose(logdet + logdet_back, torch.zeros_like(logdet), atol=1e-8)


def test_layer_logdet_matches_autograd_jacobian(layer_case):
    layer, x, cond = layer_case
    jacobian = torch.autograd.functional.jacobian(lambda v: flat(layer(v.view_as(x), cond)[0]), x.flatten())
    _, expected = torch.linalg.slogdet(jacobian)
    assert abs(layer(x, cond)[1].item() - expected.item()) < 1e-4


def test_layer_changes_its_input(layer_case):
    """Guards the two tests above against a layer that degenerated to the identity."""
    layer, x, cond = layer_case
    if isinstance(layer, (Squeeze, Split)):
        pytest.skip("a permutation / a pair output")
    assert (layer(x, cond)[0] - x).abs().max() > 1e-3


def test_actnorm_first_training_batch_gives_zero_mean_unit_std():
    layer = ActNorm(3)
    x = torch.randn(16, 3, 5, 5) * torch.tensor([1.0, 5.0, 0.1]).view(1, 3, 1, 1) + 7
    y, _ = layer(x)
    assert torch.allclose(y.mean((0, 2, 3)), torch.zeros(3), atol=1e-4)
    assert torch.allclose(y.std((0, 2, 3), unbiased=False), torch.ones(3), atol=1e-3)
    assert bool(layer.state_dict()["initialized"])


def test_actnorm_with_loaded_weights_is_not_reinitialised():
    trained = ActNorm(3)
    trained(torch.randn(4, 3, 2, 2) + 3)
    loaded = ActNorm(3)
    loaded.load_state_dict(trained.state_dict())
    loaded(torch.randn(4, 3, 2, 2) * 10)
    assert torch.equal(loaded.bias, trained.bias) and torch.equal(loaded.logs, trained.logs)


def test_actnorm_does_not_initialise_in_eval_or_reverse():
    layer = ActNorm(3)
    layer(torch.randn(2, 3, 2, 2) + 5, reverse=True)
    layer.eval()(torch.randn(2, 3, 2, 2) + 5)
    assert not bool(layer.initialized) and torch.equal(layer.bias, torch.zeros_like(layer.bias))


def test_invconv_starts_as_a_rotation():
    layer = InvConv1x1(6)
    lower, upper = layer._factors()
    weight = layer.p @ lower @ upper
    assert torch.allclose(weight @ weight.T, torch.eye(6), atol=1e-5)


def test_at_init_encoding_divides_by_the_initial_scale_and_decoding_multiplies():
    """Zero-initialised nets: every scale is sigmoid(2) + eps and every shift 0. DeFlow's direction divides z2 by
    it in the coupling and all of z in the injector (so z1 once, z2 twice in a step); decoding multiplies."""
    x, cond = torch.randn(2, 4, 3, 3), torch.randn(2, 3, 3, 3)
    s = torch.sigmoid(torch.tensor(2.0)) + 1e-3
    per_channel = -9 * torch.log(s).item()  # 3 x 3 pixels
    z, logdet = coupling(4)(x, cond)
    assert torch.allclose(z[:, :2], x[:, :2]) and torch.allclose(z[:, 2:], x[:, 2:] / s)
    assert torch.allclose(logdet, torch.full((2,), 2 * per_channel))
    z, logdet = injector(4)(x, cond)
    assert torch.allclose(z, x / s) and torch.allclose(logdet, torch.full((2,), 4 * per_channel))
    layer = step(4).eval()  # eval: ActNorm and InvConv1x1 stay the identity and a rotation
    rotated, _ = layer.invconv(x)
    z, logdet = layer(x, cond)
    assert torch.allclose(z[:, :2], rotated[:, :2] / s) and torch.allclose(z[:, 2:], rotated[:, 2:] / s ** 2, atol=1e-6)
    assert torch.allclose(logdet, torch.full((2,), 6 * per_channel), atol=1e-5)
    decoded, _ = layer(x, cond, reverse=True)
    assert decoded.norm() < x.norm()


def test_step_names_its_layers_and_keeps_the_parameter_order_of_earlier_checkpoints():
    """The injector's parameters come first (as when it was part of the coupling), though it runs second."""
    names = [name for name, _ in step(4).named_parameters()]
    assert [n.split(".")[0] for n in names] == ["actnorm"] * 2 + ["invconv"] * 3 + ["injector"] * 9 + ["coupling"] * 9
    assert [name for name, _ in FlowStep(4).named_children()] == ["actnorm", "invconv"]


def test_split_samples_eps_when_none_is_given():
    split = Split(4)
    z1 = torch.randn(2, 2, 3, 3)
    draws = [split((z1, None), reverse=True, generator=torch.Generator().manual_seed(1))[0] for _ in range(2)]
    assert torch.equal(draws[0], draws[1]) and torch.equal(draws[0][:, :2], z1)
