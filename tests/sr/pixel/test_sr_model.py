"""SRModel and the shared pixel losses: values against torch's own losses, any input size at inference."""
import pytest
import torch
import torch.nn.functional as F

from deflow.config import load_options
from deflow.errors import UserError
from deflow.registry import LOSSES, load_plugins


def test_pixel_losses_match_torch_and_their_weight_and_reduction():
    load_plugins()
    pred, target = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0)), torch.rand(2, 3, 8, 8)
    assert torch.allclose(LOSSES.get("L1Loss")()(pred, target), F.l1_loss(pred, target))
    assert torch.allclose(LOSSES.get("MSELoss")(loss_weight=0.5)(pred, target), 0.5 * F.mse_loss(pred, target))
    assert torch.allclose(LOSSES.get("L1Loss")(reduction="sum")(pred, target), F.l1_loss(pred, target, reduction="sum"))
    eps = 0.1
    expected = torch.sqrt((pred - target) ** 2 + eps ** 2).mean()
    assert torch.allclose(LOSSES.get("CharbonnierLoss")(eps=eps)(pred, target), expected)
    assert LOSSES.get("CharbonnierLoss")(eps=eps)(target, target).item() == pytest.approx(eps)


def build(tiny_sr_config, *sets):
    from deflow.registry import MODELS

    opt = load_options(tiny_sr_config, list(sets))
    return MODELS.get("SRModel")(opt, torch.device("cpu"))


def test_infer_takes_any_size_and_equals_the_network_where_no_padding_is_needed(tiny_sr_config):
    model = build(tiny_sr_config, "train.ema_decay=0")
    odd = torch.rand(1, 3, 13, 17)
    assert model.infer(odd).shape == (1, 3, 26, 34)
    even = torch.rand(1, 3, 16, 20)
    with torch.no_grad():
        assert torch.allclose(model.infer(even), model.nets["g"].eval()(even).clamp(0, 1))


def test_an_unknown_pixel_loss_is_a_user_error(tiny_sr_config):
    with pytest.raises(UserError, match="unknown loss 'L1Los'; did you mean 'L1Loss'"):
        build(tiny_sr_config, "train.pixel_opt={type: L1Los}")
