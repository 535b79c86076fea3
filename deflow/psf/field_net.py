"""PSFFieldNet: one PSF per (field node, colour channel), every node of a field in one module (the tiles are the
groups of grouped convolutions, not separate runs)."""
import torch
from torch import nn
from torch.nn import functional as F

from deflow.registry import ARCHS
from degradations.kernels import gaussian_kernel
from degradations.psf import fov_kernel_sizes, support_masks


@ARCHS.register()
class PSFFieldNet(nn.Module):
    """The PSF field being fitted; `forward()` returns it, (gh, gw, 3, k, k), k = max(kernel_sizes).

    Args:
        grid: (gh, gw) field nodes (the image cut into gh x gw equal tiles; degradations.psf.apply_psf_field).
        kernel_sizes: node support by field zone, growing with the radius (Chen et al. 2021: 19, 23, 27).
        fov_bounds: the zone limits of the normalised field radius (Chen: 0.5, 0.8).
        parameterization: 'direct' (the kernel values themselves) or 'deep_linear'
            (KernelGAN's / Chen's generator: bias-free valid convs without activations plus the identity, one
            per node and channel as groups; the PSF is its impulse response).
        structure: the deep linear net's layer kernel sizes; their receptive field 1 + sum(k - 1) must be k
            (Chen: [7, 5, 3, 3, 3, 3] for 19).
        channels: the deep linear net's width (Chen: 64).
        init_sigma: 'direct' starts every PSF as a normalised Gaussian of this std (0: a delta, as the deep linear
            net's identity). A delta takes Adam about 1 / lr steps to spread (each value moves at most lr a step).
        scale: 1 (a PSF field does not resize).
    """

    def __init__(self, grid=(5, 7), kernel_sizes=(19, 23, 27), fov_bounds=(0.5, 0.8), parameterization: str = "direct",
                 structure=(7, 5, 3, 3, 3, 3, 3, 3, 3, 3), channels: int = 64, init_sigma: float = 1.0, scale: int = 1):
        super().__init__()
        if scale != 1:
            raise ValueError("PSFFieldNet: scale must be 1")
        self.grid, self.size = tuple(grid), max(kernel_sizes)
        self.register_buffer("node_sizes", fov_kernel_sizes(self.grid, tuple(kernel_sizes), tuple(fov_bounds)))
        self.register_buffer("support", support_masks(self.node_sizes, self.size))
        self.groups = self.grid[0] * self.grid[1] * 3
        self.parameterization = parameterization
        if parameterization == "direct":
            start = torch.zeros(self.size, self.size)
            start[self.size // 2, self.size // 2] = 1
            if init_sigma > 0:
                start = gaussian_kernel(self.size, init_sigma).float()
            self.kernels = nn.Parameter(start.expand(*self.grid, 3, self.size, self.size).clone())
        elif parameterization == "deep_linear":
            if 1 + sum(k - 1 for k in structure) != self.size:
                raise ValueError(f"structure {list(structure)} has receptive field {1 + sum(k - 1 for k in structure)}, "
                                 f"not the largest kernel size {self.size}")
            widths = [1, *[channels] * (len(structure) - 1), 1]
            self.layers = nn.ModuleList(nn.Conv2d(self.groups * c_in, self.groups * c_out, k, groups=self.groups, bias=False)
                                        for c_in, c_out, k in zip(widths, widths[1:], structure))
            for layer in self.layers[:-1]:
                nn.init.normal_(layer.weight, std=layer.weight[0].numel() ** -0.5)
            nn.init.zeros_(self.layers[-1].weight)  # training starts at the identity (the residual path)
        else:
            raise ValueError(f"parameterization must be 'direct' or 'deep_linear', got {parameterization!r}")

    def forward(self) -> torch.Tensor:
        if self.parameterization == "direct":
            return self.kernels * self.support
        k = self.size
        delta = torch.zeros(1, self.groups, 2 * k - 1, 2 * k - 1, device=self.support.device)
        delta[..., k - 1, k - 1] = 1
        response = delta
        for layer in self.layers:
            response = layer(response)
        response = response + F.pad(delta, (-(k // 2),) * 4)  # the identity path, centre-cropped to k x k
        return response.reshape(*self.grid, 3, k, k) * self.support
