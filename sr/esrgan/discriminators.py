"""The discriminators of ESRGAN and Real-ESRGAN, with BasicSR's layouts and state_dict key names
(XPixelGroup/BasicSR basicsr/archs/discriminator_arch.py), so BasicSR's `net_d` checkpoints load strictly."""
import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm

from deflow.errors import UserError
from deflow.registry import ARCHS

VGG_INPUT_SIZES = (128, 256)


@ARCHS.register()
class VGGStyleDiscriminator(nn.Module):
    """ESRGAN's discriminator (SRGAN's VGG-style one, Ledig et al. 2017, Fig. 4): pairs of a 3x3 conv and a 4x4
    stride-2 conv with BatchNorm and LeakyReLU(0.2), widths num_feat x (1, 2, 4, 8, 8[, 8]), down to 4x4, then
    Linear(num_feat*8*16 -> 100) and Linear(100 -> 1). One realness logit per image: it judges crops of exactly
    `input_size` pixels, so `datasets.train.gt_size` must equal it.

    Args:
        num_in_ch: input channels (3 for RGB).
        num_feat: width of the first stage (64 in ESRGAN).
        input_size: side of the judged crops, 128 (ESRGAN, DeFlow) or 256 (one stage more).
    """
    MINIMUMS = {"num_in_ch": 1, "num_feat": 1}

    def __init__(self, num_in_ch: int = 3, num_feat: int = 64, input_size: int = 128):
        super().__init__()
        if input_size not in VGG_INPUT_SIZES:
            raise UserError(f"network_d.input_size: VGGStyleDiscriminator takes 128 or 256, got {input_size}")
        self.input_size = input_size
        self.num_stages = int(math.log2(input_size // 4))  # each halves the side, down to 4x4
        widths = [num_feat * m for m in (1, 2, 4, 8, 8, 8)][:self.num_stages]
        self.conv0_0 = nn.Conv2d(num_in_ch, num_feat, 3, 1, 1, bias=True)
        self.conv0_1 = nn.Conv2d(num_feat, num_feat, 4, 2, 1, bias=False)
        self.bn0_1 = nn.BatchNorm2d(num_feat, affine=True)
        for stage, (c_in, c_out) in enumerate(zip(widths, widths[1:]), start=1):
            setattr(self, f"conv{stage}_0", nn.Conv2d(c_in, c_out, 3, 1, 1, bias=False))
            setattr(self, f"bn{stage}_0", nn.BatchNorm2d(c_out, affine=True))
            setattr(self, f"conv{stage}_1", nn.Conv2d(c_out, c_out, 4, 2, 1, bias=False))
            setattr(self, f"bn{stage}_1", nn.BatchNorm2d(c_out, affine=True))
        self.linear1 = nn.Linear(num_feat * 8 * 4 * 4, 100)
        self.linear2 = nn.Linear(100, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, input_size, input_size) -> (B, 1) logits."""
        if tuple(x.shape[-2:]) != (self.input_size, self.input_size):
            raise UserError(f"VGGStyleDiscriminator judges {self.input_size}x{self.input_size} crops, got "
                            f"{x.shape[-1]}x{x.shape[-2]}; set datasets.train.gt_size: {self.input_size}")
        feat = self.lrelu(self.conv0_0(x))
        feat = self.lrelu(self.bn0_1(self.conv0_1(feat)))
        for stage in range(1, self.num_stages):
            feat = self.lrelu(getattr(self, f"bn{stage}_0")(getattr(self, f"conv{stage}_0")(feat)))
            feat = self.lrelu(getattr(self, f"bn{stage}_1")(getattr(self, f"conv{stage}_1")(feat)))
        return self.linear2(self.lrelu(self.linear1(feat.flatten(1))))


@ARCHS.register()
class UNetDiscriminatorSN(nn.Module):
    """Real-ESRGAN's discriminator (Wang et al., ICCVW 2021, section 3.3): a U-Net with spectral normalisation on
    every conv but the first and the last, three stride-2 downsamplings, three bilinear upsamplings with additive
    skips and two extra convs. One realness logit per pixel, so any crop whose sides divide by 8 works.

    Args:
        num_in_ch: input channels (3 for RGB).
        num_feat: width of the first conv (64 in Real-ESRGAN).
        skip_connection: add the encoder features to the decoder's (Real-ESRGAN: true).
    """
    MINIMUMS = {"num_in_ch": 1, "num_feat": 1}

    def __init__(self, num_in_ch: int = 3, num_feat: int = 64, skip_connection: bool = True):
        super().__init__()
        self.skip_connection = skip_connection
        self.conv0 = nn.Conv2d(num_in_ch, num_feat, kernel_size=3, stride=1, padding=1)
        self.conv1 = spectral_norm(nn.Conv2d(num_feat, num_feat * 2, 4, 2, 1, bias=False))
        self.conv2 = spectral_norm(nn.Conv2d(num_feat * 2, num_feat * 4, 4, 2, 1, bias=False))
        self.conv3 = spectral_norm(nn.Conv2d(num_feat * 4, num_feat * 8, 4, 2, 1, bias=False))
        self.conv4 = spectral_norm(nn.Conv2d(num_feat * 8, num_feat * 4, 3, 1, 1, bias=False))
        self.conv5 = spectral_norm(nn.Conv2d(num_feat * 4, num_feat * 2, 3, 1, 1, bias=False))
        self.conv6 = spectral_norm(nn.Conv2d(num_feat * 2, num_feat, 3, 1, 1, bias=False))
        self.conv7 = spectral_norm(nn.Conv2d(num_feat, num_feat, 3, 1, 1, bias=False))
        self.conv8 = spectral_norm(nn.Conv2d(num_feat, num_feat, 3, 1, 1, bias=False))
        self.conv9 = nn.Conv2d(num_feat, 1, 3, 1, 1)

    def up(self, x: torch.Tensor, conv: nn.Module, skip: torch.Tensor) -> torch.Tensor:
        x = F.leaky_relu(conv(F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)), 0.2)
        return x + skip if self.skip_connection else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, 1, H, W) logits; H and W divisible by 8."""
        if x.shape[-1] % 8 or x.shape[-2] % 8:
            raise UserError(f"UNetDiscriminatorSN needs sides divisible by 8, got {x.shape[-1]}x{x.shape[-2]}; "
                            "choose datasets.train.gt_size accordingly")
        x0 = F.leaky_relu(self.conv0(x), 0.2)
        x1 = F.leaky_relu(self.conv1(x0), 0.2)
        x2 = F.leaky_relu(self.conv2(x1), 0.2)
        x3 = F.leaky_relu(self.conv3(x2), 0.2)
        x6 = self.up(self.up(self.up(x3, self.conv4, x2), self.conv5, x1), self.conv6, x0)
        out = F.leaky_relu(self.conv7(x6), 0.2)
        out = F.leaky_relu(self.conv8(out), 0.2)
        return self.conv9(out)
