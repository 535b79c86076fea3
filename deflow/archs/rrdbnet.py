"""RRDBNet (ESRGAN, Wang et al. 2018) with BasicSR's layout and state_dict key names; xinntao/ESRGAN's older key
layouts load too (deflow/archs/esrgan_keys.py).

x4 uses two nearest-neighbour x2 upsampling stages; x2 and x1 first pixel-unshuffle the input by 2 and 4
(Real-ESRGAN's trick), so one trunk serves scales 1, 2 and 4.
"""
import torch
import torch.nn.functional as F
from torch import nn

from deflow.archs.esrgan_keys import to_basicsr_keys
from deflow.errors import UserError
from deflow.registry import ARCHS


def scaled_kaiming_(module: nn.Module, scale: float) -> None:
    """Kaiming-normal init scaled down (ESRGAN uses 0.1 so each residual block starts near identity)."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight)
            m.weight.data.mul_(scale)
            if m.bias is not None:
                m.bias.data.zero_()


class ResidualDenseBlock(nn.Module):
    """Five 3x3 convs with dense connections; the output is scaled by 0.2 and added to the input."""

    def __init__(self, num_feat: int = 64, num_grow_ch: int = 32):
        super().__init__()
        self.conv1 = nn.Conv2d(num_feat, num_grow_ch, 3, 1, 1)
        self.conv2 = nn.Conv2d(num_feat + num_grow_ch, num_grow_ch, 3, 1, 1)
        self.conv3 = nn.Conv2d(num_feat + 2 * num_grow_ch, num_grow_ch, 3, 1, 1)
        self.conv4 = nn.Conv2d(num_feat + 3 * num_grow_ch, num_grow_ch, 3, 1, 1)
        self.conv5 = nn.Conv2d(num_feat + 4 * num_grow_ch, num_feat, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)
        scaled_kaiming_(self, 0.1)

    def forward(self, x):
        x1 = self.lrelu(self.conv1(x))
        x2 = self.lrelu(self.conv2(torch.cat((x, x1), 1)))
        x3 = self.lrelu(self.conv3(torch.cat((x, x1, x2), 1)))
        x4 = self.lrelu(self.conv4(torch.cat((x, x1, x2, x3), 1)))
        x5 = self.conv5(torch.cat((x, x1, x2, x3, x4), 1))
        return x5 * 0.2 + x  # residual scaling 0.2, ESRGAN section 3.2


class RRDB(nn.Module):
    """Residual-in-residual dense block: three dense blocks and a 0.2-scaled skip."""

    def __init__(self, num_feat: int, num_grow_ch: int = 32):
        super().__init__()
        self.rdb1 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb2 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb3 = ResidualDenseBlock(num_feat, num_grow_ch)

    def forward(self, x):
        return self.rdb3(self.rdb2(self.rdb1(x))) * 0.2 + x


@ARCHS.register()
class RRDBNet(nn.Module):
    """ESRGAN generator.

    Args:
        num_in_ch: input channels (3 for RGB).
        num_out_ch: output channels.
        scale: upscaling factor, 1, 2 or 4.
        num_feat: trunk width (64 in ESRGAN).
        num_block: number of RRDBs (23 in ESRGAN).
        num_grow_ch: growth channels inside a dense block (32 in ESRGAN).
    """
    MINIMUMS = {"num_in_ch": 1, "num_out_ch": 1, "num_feat": 1, "num_block": 1, "num_grow_ch": 1}

    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, scale: int = 4, num_feat: int = 64,
                 num_block: int = 23, num_grow_ch: int = 32):
        super().__init__()
        if scale not in (1, 2, 4):
            raise UserError(f"network_g.scale: RRDBNet supports 1, 2 or 4, got {scale}")
        self.scale = scale
        self.unshuffle = {1: 4, 2: 2, 4: 1}[scale]
        self.conv_first = nn.Conv2d(num_in_ch * self.unshuffle ** 2, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*(RRDB(num_feat, num_grow_ch) for _ in range(num_block)))
        self.conv_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """BasicSR's keys, or those of xinntao/ESRGAN's two older layouts (renamed first)."""
        return super().load_state_dict(to_basicsr_keys(state_dict), strict, assign)

    def upsample(self, trunk: torch.Tensor) -> torch.Tensor:
        up1 = self.lrelu(self.conv_up1(F.interpolate(trunk, scale_factor=2, mode="nearest")))
        up2 = self.lrelu(self.conv_up2(F.interpolate(up1, scale_factor=2, mode="nearest")))
        return self.conv_last(self.lrelu(self.conv_hr(up2)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, 3, H*scale, W*scale); H and W must be divisible by 4 // scale."""
        if x.shape[-1] % self.unshuffle or x.shape[-2] % self.unshuffle:
            raise UserError(f"RRDBNet x{self.scale} needs input sides divisible by {self.unshuffle}, got {tuple(x.shape[-2:])}")
        if self.unshuffle > 1:
            x = F.pixel_unshuffle(x, self.unshuffle)
        feat = self.conv_first(x)
        return self.upsample(feat + self.conv_body(self.body(feat)))
