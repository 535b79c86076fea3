"""RRDBNet: BasicSR's state_dict names (so BasicSR/Real-ESRGAN weights load), shapes at x1, x2 and x4."""
import pytest
import torch

from deflow.archs.rrdbnet import RRDBNet
from deflow.errors import UserError


def basicsr_rrdbnet_keys(num_block: int) -> list[str]:
    """The parameter names of BasicSR's rrdbnet_arch.RRDBNet, written out from its layout."""
    keys = ["conv_first"]
    for b in range(num_block):
        for r in (1, 2, 3):
            keys += [f"body.{b}.rdb{r}.conv{c}" for c in range(1, 6)]
    keys += ["conv_body", "conv_up1", "conv_up2", "conv_hr", "conv_last"]
    return [f"{k}.{p}" for k in keys for p in ("weight", "bias")]


@pytest.mark.parametrize("scale, in_ch", [(1, 48), (2, 12), (4, 3)])
def test_state_dict_keys_match_basicsr_and_output_is_scaled(scale, in_ch):
    net = RRDBNet(scale=scale, num_feat=8, num_block=2, num_grow_ch=4)
    assert list(net.state_dict()) == basicsr_rrdbnet_keys(2)
    assert net.conv_first.weight.shape[1] == in_ch
    x = torch.rand(1, 3, 8, 12)
    assert net(x).shape == (1, 3, 8 * scale, 12 * scale)


def test_default_size_is_esrgan():
    net = RRDBNet()
    assert sum(p.numel() for p in net.parameters()) == 16_697_987  # ESRGAN x4 generator, 64/23/32


def test_unsupported_scale_and_indivisible_input_are_user_errors():
    with pytest.raises(UserError, match="supports 1, 2 or 4"):
        RRDBNet(scale=3)
    with pytest.raises(UserError, match="divisible by 2"):
        RRDBNet(scale=2, num_feat=8, num_block=1, num_grow_ch=4)(torch.rand(1, 3, 7, 8))
