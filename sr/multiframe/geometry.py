"""Where a frame's pixels lie on the reference frame's grid: affine maps and sample positions.

Coordinates are pixel centres: x to the right, y down, (0, 0) the centre of the top-left pixel. The motion of frame k
is the map T_k from its own pixel coordinates to the reference's: frame_k(q) ~ reference(T_k q). A global motion is
a (2, 3) affine matrix; any motion (dense flow too) is a (2, h, w) map of positions, channel 0 x and channel 1 y.
On the `scale`x grid an LR coordinate p lies at HR coordinate scale * p + (scale - 1) / 2 (an LR pixel integrates
the scale x scale HR pixels it covers, as area downsampling does).
"""
import math

import torch
import torch.nn.functional as F


def homogeneous(matrix: torch.Tensor) -> torch.Tensor:
    """(..., 2, 3) -> (..., 3, 3)."""
    bottom = torch.zeros(*matrix.shape[:-2], 1, 3, dtype=matrix.dtype, device=matrix.device)
    bottom[..., 0, 2] = 1
    return torch.cat([matrix, bottom], dim=-2)


def rigid(angle_deg: float, tx: float, ty: float, centre: tuple[float, float]) -> torch.Tensor:
    """(2, 3) float64: rotation by `angle_deg` about `centre` (x, y), then translation (tx, ty)."""
    a = math.radians(angle_deg)
    cos, sin = math.cos(a), math.sin(a)
    cx, cy = centre
    return torch.tensor([[cos, -sin, cx - cos * cx + sin * cy + tx],
                         [sin, cos, cy - sin * cx - cos * cy + ty]], dtype=torch.float64)


def lr_to_hr(scale: int, offset: float = 0.0) -> torch.Tensor:
    """(3, 3) float64: LR pixel coordinates -> HR ones (plus `offset` HR px on both axes)."""
    c = (scale - 1) / 2 + offset
    return torch.tensor([[scale, 0, c], [0, scale, c], [0, 0, 1]], dtype=torch.float64)


def hr_motion_to_lr(matrix: torch.Tensor, scale: int, offset: float = 0.0) -> torch.Tensor:
    """A (2, 3) map between HR coordinates (frames cut `offset` px inside the HR image) as the map between the
    LR frames' coordinates."""
    s = lr_to_hr(scale, offset)
    return (torch.linalg.inv(s) @ homogeneous(matrix) @ s)[:2]


def grid(h: int, w: int, dtype=torch.float32, device=None) -> torch.Tensor:
    """(2, h, w): every pixel's own coordinates (x, y)."""
    ys, xs = torch.meshgrid(torch.arange(h, dtype=dtype, device=device), torch.arange(w, dtype=dtype, device=device),
                            indexing="ij")
    return torch.stack([xs, ys])


def positions_from_affine(matrices: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """(T, 2, 3) motions -> (T, 2, h, w) positions of every frame pixel on the reference grid."""
    g = grid(h, w, torch.float64).reshape(2, -1)
    pos = matrices.to(torch.float64)[:, :, :2] @ g + matrices.to(torch.float64)[:, :, 2:]
    return pos.reshape(-1, 2, h, w).float()


def sample(images: torch.Tensor, positions: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
    """images (N, C, H, W) sampled at positions (N, 2, h, w) of their own pixel grid -> (N, C, h, w); outside the
    image the border pixel is repeated."""
    h, w = images.shape[-2:]
    norm = torch.stack([2 * positions[:, 0] / max(w - 1, 1) - 1, 2 * positions[:, 1] / max(h - 1, 1) - 1], dim=-1)
    return F.grid_sample(images, norm.to(images.dtype), mode=mode, padding_mode="border", align_corners=True)


def warp_affine(image: torch.Tensor, matrix: torch.Tensor, mode: str = "bicubic") -> torch.Tensor:
    """(C, H, W) warped so that out(u) = image(matrix u) (matrix (2, 3), pixel coordinates)."""
    h, w = image.shape[-2:]
    pos = positions_from_affine(matrix[None], h, w)
    return sample(image[None], pos, mode)[0]
