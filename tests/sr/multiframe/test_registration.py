"""Registration recovers planted motions, and its confidence singles out a corrupted frame."""
import torch

from sr.multiframe.geometry import grid, positions_from_affine, rigid, warp_affine
from sr.multiframe.registration import keep_mask, register_burst
from tests.sr.multiframe.bursts import camera_burst, photo_crop

SHIFTS = [(0.0, 0.0), (0.3, -0.7), (1.25, 0.5), (-2.6, 1.9), (0.5, 0.5)]


def planted_burst():
    """Noise-free frames of one image, each translated by a known sub-pixel shift (bicubic), x right and y down."""
    image = torch.nn.functional.avg_pool2d(photo_crop(160)[None], 2)[0]
    frames = [warp_affine(image, rigid(0.0, dx, dy, (0, 0)).float()) for dx, dy in SHIFTS]
    return torch.stack(frames)[..., 8:-8, 8:-8]


def test_phase_correlation_and_ecc_recover_planted_subpixel_shifts():
    frames = planted_burst()
    h, w = frames.shape[-2:]
    # frame(q) = image(q + d), so frame k's pixel q lies at q + d on the reference
    planted = grid(h, w)[None] + torch.tensor(SHIFTS).reshape(-1, 2, 1, 1)
    for method, tolerance in (("phase", 0.5), ("ecc", 0.05)):
        error = (register_burst(frames, method).positions - planted).norm(dim=1).mean(dim=(1, 2))
        assert error.max() < tolerance, (method, error)


def test_ecc_error_on_camera_bursts_is_below_a_tenth_of_a_pixel():
    errors = []
    for seed in range(2):
        burst = camera_burst(8, 128, seed)
        reg = register_burst(burst.frames, "ecc")
        h, w = burst.frames.shape[-2:]
        true = positions_from_affine(burst.motions, h, w)
        errors.append((reg.positions - true).norm(dim=1)[1:, 4:-4, 4:-4].mean())
    assert torch.stack(errors).mean() < 0.1, errors


def test_dense_flow_follows_the_motion_roughly():
    burst = camera_burst(3, 128)
    reg = register_burst(burst.frames, "dis")
    true = positions_from_affine(burst.motions, *burst.frames.shape[-2:])
    assert (reg.positions - true).norm(dim=1)[1:, 8:-8, 8:-8].mean() < 0.5


def test_a_frame_of_pure_noise_gets_low_confidence_and_is_rejected():
    frames = camera_burst(6, 112).frames.clone()
    frames[3] = torch.rand(frames[3].shape, generator=torch.Generator().manual_seed(5))
    for method in ("ecc", "dis"):
        reg = register_burst(frames, method)
        keep = keep_mask(reg.confidence, 0.5)
        assert keep.tolist() == [True, True, True, False, True, True], (method, reg.confidence)
