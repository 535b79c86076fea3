"""FOV-KPN (Chen et al., "Extreme-Quality Computational Imaging via Degradation Framework", ICCV 2021; code
TanGeeGo/DegradationTransfer fov_kpn/model/fov_kpn.py), with the released code's defects fixed (FOVBlock's missing
super().__init__, the 5-channel ResBlock on 32 channels): FOV attention, a U-Net with modulated deformable
convolutions in the decoder (torchvision.ops.deform_conv2d), per-pixel 5 x 5 kernels per colour applied at
dilations 1-4 and fused by a 3 x 3 conv."""
import torch
from torch import nn
from torch.nn import functional as F
from torchvision.ops import deform_conv2d

from deflow.registry import ARCHS


def lrelu(x: torch.Tensor, slope: float = 0.1) -> torch.Tensor:
    return F.leaky_relu(x, slope)


class FOVBlock(nn.Module):
    """out = a_img * sigmoid-gated a_fov + a_img (spatial attention conditioned on the field position)."""

    def __init__(self, ch: int):
        super().__init__()
        self.img = nn.ModuleList([nn.Conv2d(3, ch, 3, padding=1), nn.Conv2d(ch, ch, 1)])
        self.fov = nn.ModuleList([nn.Conv2d(2, ch, 3, padding=1), nn.Conv2d(ch, ch, 1)])

    def forward(self, rgb: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
        a_img = lrelu(self.img[1](lrelu(self.img[0](rgb))))
        a_fov = torch.sigmoid(lrelu(self.fov[1](lrelu(self.fov[0](coords)))))
        return a_img * a_fov + a_img


class ResBlock(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(ch, ch, 3, padding=1), nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x):
        return x + self.conv2(F.leaky_relu(self.conv1(x), 0.2))


class DeformResBlock(nn.Module):
    """Chen's RSABlock: a modulated deformable 3 x 3 conv (offsets and masks from the features and the coarser
    level's offsets, x2 upsampled: the pyramid cascade of EDVR's PCD), LReLU, conv 3 x 3, plus the input."""

    def __init__(self, ch: int, groups: int):
        super().__init__()
        self.groups = groups
        self.offset = nn.Conv2d(ch + 2 * groups * 9, 3 * groups * 9, 3, padding=1)
        nn.init.zeros_(self.offset.weight), nn.init.zeros_(self.offset.bias)
        self.weight = nn.Parameter(torch.empty(ch, ch, 3, 3))
        nn.init.kaiming_uniform_(self.weight, a=5 ** 0.5)
        self.bias = nn.Parameter(torch.zeros(ch))
        self.conv = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x: torch.Tensor, coarse_offset: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        n = 2 * self.groups * 9
        prior = torch.zeros_like(x[:, :1]).expand(-1, n, -1, -1) if coarse_offset is None else \
            2 * F.interpolate(coarse_offset, size=x.shape[-2:], mode="bilinear", align_corners=False)
        out = self.offset(torch.cat([x, prior], dim=1))
        offset, mask = prior + out[:, :n], torch.sigmoid(out[:, n:])
        y = deform_conv2d(x, offset, self.weight, self.bias, padding=1, mask=mask)
        return x + self.conv(lrelu(y)), offset


@ARCHS.register()
class FOVKPN(nn.Module):
    """FOV-KPN restorer: (B, 3, H, W) sRGB and (B, 2, H, W) coordinate maps -> (B, 3, H, W).

    Args:
        num_feat: channels of the first level (Chen: 32), doubled at each level down.
        levels: stride-2 levels of the U-Net (Chen: 3).
        deform_groups: offset groups of the deformable convs (Chen: 8).
        kernel_size: the predicted per-pixel kernels (Chen: 5).
        dilations: the dilation rates they are applied at (Chen: 1, 2, 3, 4).
        use_coords: false feeds zeros instead of the coordinate maps: the same network, blind to the field position
            (the ablation of the FOV channels).
        scale: 1.
    """

    def __init__(self, num_feat: int = 32, levels: int = 3, deform_groups: int = 8, kernel_size: int = 5,
                 dilations=(1, 2, 3, 4), use_coords: bool = True, scale: int = 1):
        super().__init__()
        if scale != 1:
            raise ValueError("FOVKPN has scale 1")
        self.use_coords, self.k, self.dilations = use_coords, kernel_size, tuple(dilations)
        chs = [num_feat * 2 ** i for i in range(levels + 1)]
        self.fov = FOVBlock(chs[0])
        self.enc = nn.ModuleList(ResBlock(c) for c in chs)
        self.down = nn.ModuleList(nn.Conv2d(a, b, 2, stride=2) for a, b in zip(chs, chs[1:]))
        self.up = nn.ModuleList(nn.ConvTranspose2d(b, a, 2, stride=2) for a, b in zip(chs, chs[1:]))
        self.merge = nn.ModuleList(nn.Conv2d(2 * a, a, 1) for a in chs[:-1])
        self.dec = nn.ModuleList(DeformResBlock(c, deform_groups) for c in chs[:-1])
        self.kernels = nn.Conv2d(chs[0], 3 * kernel_size ** 2, 1)
        nn.init.zeros_(self.kernels.weight)
        with torch.no_grad():  # every predicted kernel starts as a delta, the fusion as their mean: output = input
            self.kernels.bias.zero_()
            self.kernels.bias.view(3, kernel_size ** 2)[:, kernel_size ** 2 // 2] = 1
        self.fuse = nn.Conv2d(3 * len(self.dilations), 3, 3, padding=1)
        with torch.no_grad():
            self.fuse.weight.zero_(), self.fuse.bias.zero_()
            for d in range(len(self.dilations)):
                for c in range(3):
                    self.fuse.weight[c, 3 * d + c, 1, 1] = 1 / len(self.dilations)

    def forward(self, x: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        m = 2 ** len(self.down)
        ph, pw = (-h) % m, (-w) % m
        xp = F.pad(x, (0, pw, 0, ph), mode="replicate")
        cp = F.pad(coords if self.use_coords else torch.zeros_like(coords), (0, pw, 0, ph), mode="replicate")
        feat = self.enc[0](self.fov(xp, cp))
        skips = [feat]
        for down, enc in zip(self.down, self.enc[1:]):
            feat = enc(down(feat))
            skips.append(feat)
        offset = None
        for level in reversed(range(len(self.down))):
            feat = self.merge[level](torch.cat([self.up[level](feat), skips[level]], dim=1))
            feat, offset = self.dec[level](feat, offset)
        kernels = self.kernels(feat).unflatten(1, (3, self.k ** 2))
        filtered = []
        for d in self.dilations:
            patches = F.unfold(xp, self.k, dilation=d, padding=d * (self.k // 2)).unflatten(1, (3, self.k ** 2))
            filtered.append((patches.unflatten(-1, xp.shape[-2:]) * kernels).sum(dim=2))
        return self.fuse(torch.cat(filtered, dim=1))[..., :h, :w]
