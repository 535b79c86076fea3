"""Fusion: exact shift-and-add, the forward model, and what back-projection and BTV gain on camera bursts."""
import torch
import torch.nn.functional as F

from degradations.resize import imresize
from metrics.psnr import psnr
from sr.multiframe.archs import BTVL1, BackProjection, ShiftAndAdd
from sr.multiframe.fusion import shift_and_add, simulate
from sr.multiframe.geometry import grid
from tests.sr.multiframe.bursts import camera_burst

PHASES = [(0, 0), (1, 0), (1, 1)]  # (dx, dy) sub-pixel phases of the x2 grid that the frames sample


def phase_frames(x: torch.Tensor):
    """Unblurred, noise-free frames x[:, dy::2, dx::2] and their exact positions on the reference grid."""
    frames = torch.stack([x[:, dy::2, dx::2] for dx, dy in PHASES])
    h, w = frames.shape[-2:]
    offsets = torch.tensor([[(dx - 0.5) / 2, (dy - 0.5) / 2] for dx, dy in PHASES]).reshape(-1, 2, 1, 1)
    return frames, grid(h, w)[None] + offsets


def test_shift_and_add_with_known_shifts_reconstructs_the_scene_exactly_where_samples_exist():
    x = torch.rand(3, 24, 32, generator=torch.Generator().manual_seed(0))
    frames, positions = phase_frames(x)
    for reducer in ("median", "mean"):
        fused, count = shift_and_add(frames, positions, 2, reducer)
        sampled = torch.zeros(1, 24, 32, dtype=torch.bool)
        for dx, dy in PHASES:
            sampled[:, dy::2, dx::2] = True
        assert torch.equal(count > 0, sampled)
        assert torch.equal(fused[sampled.expand_as(x)], x[sampled.expand_as(x)])


def test_the_median_ignores_one_wrong_sample_of_three():
    x = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(1))
    frames, positions = phase_frames(x)
    frames = torch.cat([frames, frames[:1], 1 - frames[:1]])  # phase (0, 0) three times, once wrong
    positions = torch.cat([positions, positions[:1], positions[:1]])
    fused, count = shift_and_add(frames, positions, 2, "median")
    assert torch.equal(fused[:, 0::2, 0::2], x[:, 0::2, 0::2]) and count[0, 0, 0] == 3


def test_simulate_of_aligned_frames_without_blur_is_area_downsampling():
    x = torch.rand(3, 16, 20, generator=torch.Generator().manual_seed(2))
    positions = grid(8, 10)[None]
    assert torch.allclose(simulate(x, positions, 2, 0.0)[0], F.avg_pool2d(x[None], 2)[0], atol=1e-6)


def test_fusion_of_eight_camera_frames_beats_bicubic_of_the_reference():
    burst = camera_burst(8, 112)
    bicubic = float(psnr(imresize(burst.frames[:1], scale=2).clamp(0, 1), burst.gt[None], crop_border=4))
    gains = {}
    for net in (ShiftAndAdd(), BackProjection(), BTVL1()):
        out = net(burst.frames[None])
        assert out["keep"].all() and out["image"].shape == (1, *burst.gt.shape)
        gains[type(net).__name__] = float(psnr(out["image"], burst.gt[None], crop_border=4)) - bicubic
    # the camera's noise dominates: median shift-and-add of ~2 samples per pixel and unregularised back-projection
    # stay near bicubic; the bilateral-TV prior is what gains
    assert gains["BTVL1"] > 1.5 and gains["BTVL1"] > gains["ShiftAndAdd"] + 1.0, gains


def test_a_corrupted_frame_is_rejected_and_does_not_lower_the_result():
    burst = camera_burst(8, 112)
    corrupted = burst.frames.clone()
    corrupted[4] = torch.rand(corrupted[4].shape, generator=torch.Generator().manual_seed(3))
    without = torch.cat([burst.frames[:4], burst.frames[5:]])
    net = ShiftAndAdd()
    out = net(corrupted[None])
    assert out["keep"][0].tolist() == [True] * 4 + [False] + [True] * 3
    assert torch.equal(out["image"], net(without[None])["image"])
    score = lambda img: float(psnr(img, burst.gt[None], crop_border=4))  # noqa: E731
    assert score(out["image"]) > score(ShiftAndAdd(min_confidence=0.0)(corrupted[None])["image"]) + 0.5
