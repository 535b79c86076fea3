"""Wiener restorers with a PSF field file: classical (`WienerField`, no parameters) and deep (`DeepWienerField`,
a learned 1/SNR map and a refinement net; after Lin et al., "Non-blind optical degradation correction via frequency
self-adaptive and finetune tactics", Opt. Express 30(13):23485, 2022, code TanGeeGo/FSANet). Both take an sRGB
image and its coordinate maps; they deconvolve in linear light (the ISP's unprocess / process around it)."""
import math

import torch
from torch import nn
from torch.nn import functional as F

from deflow.psf.synthetic import build_isp
from deflow.registry import ARCHS
from degradations.isp import process, unprocess
from degradations.psf import load_psf_field
from sr.psf.wiener import field_wiener, node_weights_at


class _FieldRestorer(nn.Module):
    def __init__(self, field_path: str, isp: str | None, scale: int):
        super().__init__()
        if scale != 1:
            raise ValueError("a PSF restorer has scale 1")
        self.register_buffer("field", load_psf_field(field_path)[0])
        self.isp = build_isp(isp)

    def linear(self, x: torch.Tensor) -> torch.Tensor:
        return unprocess(x, self.isp.to(x.device)) if self.isp is not None else x

    def display(self, x: torch.Tensor) -> torch.Tensor:
        return process(x.clamp(0, 1), self.isp.to(x.device)) if self.isp is not None else x.clamp(0, 1)


@ARCHS.register()
class WienerField(_FieldRestorer):
    """Classical Wiener deconvolution per field node with a constant 1/SNR, nodes blended bilinearly.

    Args:
        field_path: the PSF field file (scripts/psf_transfer.py).
        inv_snr: the constant 1/SNR (noise-to-signal power ratio).
        isp: the camera ISP (chen_phone, or none for linear images).
        scale: 1.
    """

    def __init__(self, field_path: str = "psf_field.safetensors", inv_snr: float = 1.0e-3, isp: str = "chen_phone",
                 scale: int = 1):
        super().__init__(field_path, isp, scale)
        self.inv_snr = inv_snr

    def forward(self, x: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
        return self.display(field_wiener(self.linear(x), self.field, self.inv_snr, coords))


def basis_spectra(shape: tuple[int, int], count: int, device=None) -> torch.Tensor:
    """(count, H, W // 2 + 1) regulariser spectra: after FSANet's basis (gauss_fit: Gaussians with std linearly spaced
    over [0.2, 2.5) px and an all-ones map), but high-pass, 1 - |F(Gaussian)|^2 (ours: so that a learned 1/SNR can
    grow with frequency, where noise outweighs a blurred signal), and the flat map."""
    fy = torch.fft.fftfreq(shape[0], device=device)[:, None]
    fx = torch.fft.rfftfreq(shape[1], device=device)[None, :]
    f2 = fy ** 2 + fx ** 2
    sigmas = torch.linspace(0.2, 2.5, count, device=device)[:-1]
    gaussians = torch.exp(-4 * math.pi ** 2 * sigmas[:, None, None] ** 2 * f2)
    return torch.cat([1 - gaussians, torch.ones(1, *f2.shape, device=device)])


@ARCHS.register()
class DeepWienerField(_FieldRestorer):
    """Deep Wiener: per node, image and channel a learned 1/SNR spectrum eps(w) = sum_j phi_j |F(p_j)(w)|^2 (phi from
    a small CNN over the node's region, softplus), Wiener with it, then a residual CNN on (Wiener, input, coordinates).

    Args:
        field_path: the PSF field file.
        basis: number of regulariser spectra (FSANet: 28 Gaussians and a flat one).
        num_feat: width of the 1/SNR and refinement CNNs.
        num_block: conv layers of the refinement CNN.
        isp: the camera ISP (chen_phone or none).
        scale: 1.
    """

    def __init__(self, field_path: str = "psf_field.safetensors", basis: int = 8, num_feat: int = 32, num_block: int = 4,
                 isp: str = "chen_phone", scale: int = 1):
        super().__init__(field_path, isp, scale)
        self.basis = basis
        self.snr_net = nn.Sequential(nn.Conv2d(5, num_feat, 3, padding=1), nn.LeakyReLU(0.1),
                                     nn.Conv2d(num_feat, num_feat, 3, stride=2, padding=1), nn.LeakyReLU(0.1),
                                     nn.Conv2d(num_feat, 3 * basis, 1))
        nn.init.zeros_(self.snr_net[-1].weight)
        nn.init.constant_(self.snr_net[-1].bias, math.log(math.expm1(1e-3)))  # starts at a flat-ish 1/SNR ~ 1e-3
        layers = [nn.Conv2d(8, num_feat, 3, padding=1), nn.LeakyReLU(0.1)]
        for _ in range(num_block - 2):
            layers += [nn.Conv2d(num_feat, num_feat, 3, padding=1), nn.LeakyReLU(0.1)]
        layers.append(nn.Conv2d(num_feat, 3, 3, padding=1))
        nn.init.zeros_(layers[-1].weight), nn.init.zeros_(layers[-1].bias)
        self.refine = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
        lin = self.linear(x)
        b, c, h, w = lin.shape
        phi_map = self.snr_net(torch.cat([lin, coords], dim=1))  # (B, 3 basis, h/2, w/2)
        weights = node_weights_at(F.avg_pool2d(coords, 2, ceil_mode=True), self.field.shape[:2])
        pooled = torch.einsum("bijhw,bchw->bijc", weights, phi_map) / weights.sum(dim=(-2, -1))[..., None].clamp(min=1e-6)
        phi = F.softplus(pooled).reshape(b, *self.field.shape[:2], c, self.basis)
        p = min(3 * self.field.shape[-1], h - 1, w - 1)
        spectra = basis_spectra((h + 2 * p, w + 2 * p), self.basis, x.device)

        def inv_snr(i, j):
            return torch.einsum("bcn,nhw->bchw", phi[:, i, j], spectra)
        wiener = self.display(field_wiener(lin, self.field, inv_snr, coords))
        return wiener + self.refine(torch.cat([wiener, x, coords], dim=1))
