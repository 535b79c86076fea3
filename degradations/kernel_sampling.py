"""Random blur kernels: kernels from named parameters, and Real-ESRGAN's published sampling ranges.

Kernel families (the `kernel` parameter): iso, aniso, generalized_iso, generalized_aniso, plateau_iso,
plateau_aniso, sinc, motion. Parameters are those of `degradations.kernels`; iso families use sigma_x
only, aniso ones sigma_x, sigma_y (sigma_y = sigma_x when null) and theta.
"""
import difflib
import math

import torch

from deflow.errors import UserError
from degradations import kernels as K
from degradations.blur import pad_kernels
from degradations.sampling import resolve, sample

KERNEL_DEFAULTS = dict(kernel="iso", size=21, sigma_x=1.0, sigma_y=None, theta=0.0, beta_g=1.0, beta_p=1.0,
                       omega_c=math.pi, omega_c_below_13=None, length=5.0, angle=0.0)

_FAMILIES = {
    "iso": lambda p: K.gaussian_kernel(p["size"], p["sigma_x"]),
    "aniso": lambda p: K.gaussian_kernel(p["size"], p["sigma_x"], _sigma_y(p), p["theta"]),
    "generalized_iso": lambda p: K.generalized_gaussian_kernel(p["size"], p["sigma_x"], beta=p["beta_g"]),
    "generalized_aniso": lambda p: K.generalized_gaussian_kernel(p["size"], p["sigma_x"], _sigma_y(p), p["theta"],
                                                                 p["beta_g"]),
    "plateau_iso": lambda p: K.plateau_kernel(p["size"], p["sigma_x"], beta=p["beta_p"]),
    "plateau_aniso": lambda p: K.plateau_kernel(p["size"], p["sigma_x"], _sigma_y(p), p["theta"], p["beta_p"]),
    "sinc": lambda p: K.sinc_kernel(p["size"], _omega(p)),
    "motion": lambda p: K.motion_kernel(p["size"], p["length"], p["angle"]),
}
KERNEL_FAMILIES = tuple(_FAMILIES)

_PI = math.pi
# Real-ESRGAN (Wang et al. 2021, options/train_realesrgan_x4plus.yml): sinc_prob 0.1, then the mixed
# kernels with probabilities [0.45, 0.25, 0.12, 0.03, 0.12, 0.03]; sizes 7..21 odd; theta in [-pi, pi];
# generalised beta in [0.5, 4] and plateau beta in [1, 2], each drawn half below and half above 1;
# sinc cutoff U[pi/3, pi] for sizes below 13, else U[pi/5, pi].
_MIXED = dict(
    kernel={"choices": ["iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso", "sinc"],
            "weights": [0.405, 0.225, 0.108, 0.027, 0.108, 0.027, 0.1]},
    size=[7, 9, 11, 13, 15, 17, 19, 21],
    theta=[-_PI, _PI],
    beta_g={"choices": [[0.5, 1.0], [1.0, 4.0]]},
    beta_p={"choices": [1.0, [1.0, 2.0]]},
    omega_c=[_PI / 5, _PI],
    omega_c_below_13=[_PI / 3, _PI],
)
REALESRGAN_KERNEL1 = dict(_MIXED, sigma_x=[0.2, 3.0], sigma_y=[0.2, 3.0])
REALESRGAN_KERNEL2 = dict(_MIXED, sigma_x=[0.2, 1.5], sigma_y=[0.2, 1.5])
REALESRGAN_FINAL_SINC = dict(kernel="sinc", size=[7, 9, 11, 13, 15, 17, 19, 21], omega_c=[_PI / 3, _PI])


def _sigma_y(p: dict) -> float:
    return p["sigma_x"] if p["sigma_y"] is None else p["sigma_y"]


def _omega(p: dict) -> float:
    small = p["omega_c_below_13"] is not None and p["size"] < 13
    return p["omega_c_below_13"] if small else p["omega_c"]


def kernel_from_params(params: dict) -> torch.Tensor:
    """A (size, size) kernel from a dict of the parameters above (missing ones take KERNEL_DEFAULTS)."""
    p = {**KERNEL_DEFAULTS, **params}
    if p["kernel"] not in _FAMILIES:
        close = difflib.get_close_matches(str(p["kernel"]), KERNEL_FAMILIES, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(KERNEL_FAMILIES)}"
        raise UserError(f"unknown kernel {p['kernel']!r}{hint}")
    return _FAMILIES[p["kernel"]](p)


def stack_kernels(kernels: list[torch.Tensor]) -> torch.Tensor:
    """Zero-pad kernels of different odd sizes to the largest and stack them: (B, k, k)."""
    size = max(k.shape[-1] for k in kernels)
    return torch.stack([pad_kernels(k, size) for k in kernels])


def sample_kernel_params(generator: torch.Generator, spec: dict = REALESRGAN_KERNEL1) -> dict:
    """Draw one value for every parameter of a spec (see degradations.sampling)."""
    spec = {**KERNEL_DEFAULTS, **spec}
    return {name: sample(resolve(s, 1, name), generator, integer=name == "size") for name, s in spec.items()}


def random_kernels(n: int, generator: torch.Generator, spec: dict = REALESRGAN_KERNEL1,
                   pad_to: int = 21) -> torch.Tensor:
    """n kernels drawn from `spec` (default Real-ESRGAN's first-stage ranges), padded: (n, pad_to, pad_to)."""
    kernels = [kernel_from_params(sample_kernel_params(generator, spec)) for _ in range(n)]
    return pad_kernels(stack_kernels(kernels), max(pad_to, max(k.shape[-1] for k in kernels)))
