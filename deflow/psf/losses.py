"""The kernel priors of degradation transfer (Chen et al., ICCV 2021, project page: L = alpha L_fidelity +
beta L_sum2one + gamma L_boundary + delta L_sym). Kernels are (..., k, k); each loss is per kernel, averaged over
kernels, so its weight means the same for one tile or thousands."""
import torch


def sum2one_loss(kernels: torch.Tensor) -> torch.Tensor:
    """mean over kernels of |1 - sum_ij k_ij|."""
    return (1 - kernels.sum(dim=(-2, -1))).abs().mean()


def symmetry_loss(kernels: torch.Tensor) -> torch.Tensor:
    """mean over kernels of sum_ij (k(i, j) - (k(i, j) + k(-i, -j)) / 2)^2: zero exactly for centrally symmetric
    kernels (the project page's L_sym; absent from the released code)."""
    return ((kernels - 0.5 * (kernels + kernels.flip(-2, -1))) ** 2).sum(dim=(-2, -1)).mean()


def boundary_mask(size: int, scale: float = 30.0) -> torch.Tensor:
    """(size, size) penalty of the outer ring (degradation_transfer/kernelnet.py, create_penalty_mask(k, 30)):
    scale (1 - G / max G) with G a Gaussian of std `size`, its centre [margin:-margin] zeroed,
    margin = (size - (size // 2 + size % 2)) // 2 - 1 (a ring 3 px wide at 19, 4 at 23, 5 at 27), at least 1 (ours:
    below 9 px Chen's margin is 0 and would penalise the whole kernel)."""
    r = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * size ** 2))
    mask = scale * (1 - g / g.max())
    margin = max(1, (size - (size // 2 + size % 2)) // 2 - 1)
    mask[margin:-margin, margin:-margin] = 0
    return mask.float()


def boundary_loss(kernels: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """mean over kernels of sum_ij |k_ij m_ij|; masks broadcast against kernels (one per node: its own size's ring,
    times that size's weight)."""
    return (kernels * masks).abs().sum(dim=(-2, -1)).mean()


def node_boundary_masks(node_sizes: torch.Tensor, size: int, zone_sizes, zone_weights,
                        scale: float = 30.0) -> torch.Tensor:
    """(gh, gw, 1, size, size): each node's boundary_mask of its own support, centred in size x size and times the
    weight of its zone (Chen's lambda_boundaries 1000 / 100 / 1 for 19 / 23 / 27)."""
    out = torch.zeros(*node_sizes.shape, 1, size, size)
    for zone_size, weight in zip(zone_sizes, zone_weights):
        p = (size - zone_size) // 2
        ring = torch.nn.functional.pad(boundary_mask(zone_size, scale), (p, p, p, p))
        out[node_sizes == zone_size] = weight * ring
    return out


def normalised_l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-kernel L1 distance sum_ij |a/sum a - b/sum b| of (..., k, k) kernels (same k), in [0, 2]."""
    def norm(k):
        return k / k.sum(dim=(-2, -1), keepdim=True)
    return (norm(a) - norm(b)).abs().sum(dim=(-2, -1))



def kernel_diagnostics(kernels: torch.Tensor, rings: torch.Tensor) -> dict:
    """What each prior of the fit controls, measured on raw (not renormalised) kernels (..., k, k), averaged over
    kernels: sum_error mean |1 - sum k| (L_sum2one); asymmetry ||k - k(-i, -j)||_1 / (2 ||k||_1), in [0, 1]
    (L_sym); ring_energy the share of ||k||_1 on `rings` > 0, each kernel's boundary ring (L_boundary);
    negative_mass the share of ||k||_1 below zero."""
    mass = kernels.abs().sum(dim=(-2, -1))
    return {"sum_error": float((1 - kernels.sum(dim=(-2, -1))).abs().mean()),
            "asymmetry": float(((kernels - kernels.flip(-2, -1)).abs().sum(dim=(-2, -1)) / (2 * mass)).mean()),
            "ring_energy": float(((kernels.abs() * (rings > 0)).sum(dim=(-2, -1)) / mass).mean()),
            "negative_mass": float((kernels.clamp(max=0).abs().sum(dim=(-2, -1)) / mass).mean())}
