"""A planted camera for calibration without a camera: a lens PSF field and rendered calibration targets.

The planted field stands in for a real lens: PSFs that widen with the field radius, grow a coma tail pointing away
from the image centre (asymmetric off-axis, symmetric on-axis) and differ per colour channel (lateral chromatic
blur). Each node's PSF is cut to the support its field zone allows (degradations.psf.fov_kernel_sizes), so a
fitted field can represent it exactly. The targets are what lens calibration photographs: checkerboards
(slanted edges), random rectangles and the binary noise targets of PSF estimation (e.g. Brauers et al., "Direct
PSF estimation using a random noise target", SPIE 2010), which carry energy at every frequency.
"""
import torch
import torch.nn.functional as F

from degradations.isp import ISPParams, chen_phone_params, process, unprocess
from degradations.kernels import kernel_grid
from degradations.noise import heteroscedastic_gaussian_noise
from degradations.psf import _node_polar, apply_psf_field, fov_kernel_sizes, support_masks


def planted_field(grid=(4, 6), size: int = 11, sizes=(7, 9, 11), bounds=(0.5, 0.8), sigma=(0.6, 0.5, 0.7),
                  growth: float = 0.6, length=(2.0, 1.5, 2.6)) -> torch.Tensor:
    """(gh, gw, 3, size, size) normalised PSFs. Channel c: a comet of 9 Gaussian blobs along the outward direction,
    blob t in [0, 1] at distance t * length[c] * r with std sigma[c] (1 + growth r)(1 + t) and weight 1 - 0.8 t,
    r the node's normalised field radius; cut to the node's zone size and renormalised."""
    r, angle = (v.flatten()[:, None, None] for v in _node_polar(grid))
    x, y = kernel_grid(size)
    channels = []
    for s, tail in zip(sigma, length):
        total = 0
        for t in torch.linspace(0, 1, 9, dtype=torch.float64):
            shift = t * tail * r
            spread = s * (1 + growth * r) * (1 + t)
            blob = torch.exp(-((x - shift * angle.cos()) ** 2 + (y - shift * angle.sin()) ** 2) / (2 * spread ** 2))
            total = total + (1 - 0.8 * t) * blob / spread ** 2
        channels.append(total)
    field = torch.stack(channels, dim=1).reshape(*grid, len(sigma), size, size)
    field = field * support_masks(fov_kernel_sizes(grid, sizes, bounds), size).double()
    return (field / field.sum(dim=(-2, -1), keepdim=True)).float()


def _levels(pattern: torch.Tensor, generator: torch.Generator, low=(0.08, 0.12), high=(0.75, 0.9)) -> torch.Tensor:
    """A 0/1 (H, W) pattern as an RGB (3, H, W) print: per-channel dark and bright levels."""
    lo = low[0] + (low[1] - low[0]) * torch.rand(3, 1, 1, generator=generator)
    hi = high[0] + (high[1] - high[0]) * torch.rand(3, 1, 1, generator=generator)
    return lo + (hi - lo) * pattern[None]


def checkerboard(h: int, w: int, square: int, angle: float, generator: torch.Generator) -> torch.Tensor:
    """A slanted checkerboard (3, h, w), rotated by `angle` radians, anti-aliased by 4x4 supersampling."""
    ss = 4
    yy, xx = torch.meshgrid((torch.arange(h * ss) + 0.5) / ss, (torch.arange(w * ss) + 0.5) / ss, indexing="ij")
    c, s = torch.cos(torch.tensor(angle)), torch.sin(torch.tensor(angle))
    u, v = (c * xx + s * yy) / square, (-s * xx + c * yy) / square
    fine = ((torch.floor(u) + torch.floor(v)) % 2).float()
    return _levels(F.avg_pool2d(fine[None, None], ss)[0, 0], generator)


def random_rectangles(h: int, w: int, count: int, generator: torch.Generator) -> torch.Tensor:
    """Overlapping random axis-aligned rectangles of random colours on grey, (3, h, w)."""
    img = torch.full((3, h, w), 0.45)
    for _ in range(count):
        y0, x0 = int(torch.randint(0, h, (1,), generator=generator)), int(torch.randint(0, w, (1,), generator=generator))
        rh, rw = (int(torch.randint(3, max(4, h // 4), (1,), generator=generator)) for _ in range(2))
        img[:, y0:y0 + rh, x0:x0 + rw] = 0.1 + 0.8 * torch.rand(3, 1, 1, generator=generator)
    return img


def noise_target(h: int, w: int, cell: int, generator: torch.Generator) -> torch.Tensor:
    """A binary random noise target: cells of `cell` px, each dark or bright, (3, h, w)."""
    cells = (torch.rand((h + cell - 1) // cell, (w + cell - 1) // cell, generator=generator) > 0.5).float()
    pattern = cells.repeat_interleave(cell, 0).repeat_interleave(cell, 1)[:h, :w]
    return _levels(pattern, generator)


def calibration_targets(h: int, w: int, count: int, seed: int = 0) -> list[torch.Tensor]:
    """`count` targets (3, h, w), cycling checkerboard, noise target (1 and 2 px cells) and random rectangles."""
    g = torch.Generator().manual_seed(seed)
    targets = []
    for i in range(count):
        kind = i % 4
        if kind == 0:
            targets.append(checkerboard(h, w, 8 + 2 * (i // 4), 0.09 + 0.05 * i, g))
        elif kind in (1, 2):
            targets.append(noise_target(h, w, kind, g))
        else:
            targets.append(random_rectangles(h, w, 120, g))
    return targets


def capture(sharp: torch.Tensor, field: torch.Tensor, isp: ISPParams | None, shot: float = 0.0, read: float = 0.0,
            generator: torch.Generator | None = None) -> torch.Tensor:
    """The planted camera's photo of sRGB (B, 3, H, W): unprocess, the field's blur in linear light, sensor noise of
    variance shot * x + read (Gaussian approximation of Poisson-Gaussian; 0 = none), process. isp None: blur and
    noise in the given values."""
    linear = unprocess(sharp, isp) if isp is not None else sharp
    blurred = apply_psf_field(linear, field)
    if shot > 0 or read > 0:
        blurred = heteroscedastic_gaussian_noise(blurred, shot, read, generator=generator).clamp(0, 1)
    return process(blurred, isp) if isp is not None else blurred.clamp(0, 1)


def build_isp(name: str | None, wb_preset: int = 0) -> ISPParams | None:
    """The ISP a config names: 'chen_phone' (Chen et al.'s fixed phone ISP) or None / 'none' (no ISP)."""
    from deflow.errors import UserError

    if name in (None, "none"):
        return None
    if name == "chen_phone":
        return chen_phone_params(1, wb_preset)
    raise UserError(f"isp: expected 'chen_phone' or 'none', got {name!r}")
