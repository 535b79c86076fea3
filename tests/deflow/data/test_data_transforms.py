import numpy as np
import pytest
import torch
import torch.nn.functional as F

from deflow.data.transforms import augment, mod_crop, paired_random_crop
from deflow.errors import UserError


def box_down(img: torch.Tensor, scale: int) -> torch.Tensor:
    return F.avg_pool2d(img[None], scale)[0]


@pytest.mark.parametrize("scale", [1, 2, 4, 8])
def test_paired_random_crop_lr_crop_is_the_box_downsample_of_the_gt_crop(photo, scale):
    gt = photo(96, 128)
    lq = box_down(gt, scale)
    for seed in range(10):
        gt_crop, lq_crop = paired_random_crop(gt, lq, 32, scale, np.random.default_rng(seed))
        assert gt_crop.shape == (3, 32, 32) and lq_crop.shape == (3, 32 // scale, 32 // scale)
        torch.testing.assert_close(box_down(gt_crop, scale), lq_crop, rtol=0, atol=1e-6)


def test_paired_random_crop_reaches_every_position_and_depends_only_on_the_generator():
    rows, cols = torch.meshgrid(torch.arange(4.0), torch.arange(5.0), indexing="ij")
    lq = torch.stack([rows, cols, rows * 0])  # each LQ pixel holds its own (row, column)
    gt = lq.repeat_interleave(4, 1).repeat_interleave(4, 2)
    positions = set()
    for seed in range(200):
        gt_a, lq_a = paired_random_crop(gt, lq, 8, 4, np.random.default_rng(seed))
        gt_b, lq_b = paired_random_crop(gt, lq, 8, 4, np.random.default_rng(seed))
        assert torch.equal(gt_a, gt_b) and torch.equal(lq_a, lq_b)
        assert torch.equal(gt_a, lq_a.repeat_interleave(4, 1).repeat_interleave(4, 2))
        positions.add((int(lq_a[0, 0, 0]), int(lq_a[1, 0, 0])))
    assert positions == {(t, l) for t in range(3) for l in range(4)}


def test_paired_random_crop_too_small_image_names_the_file(photo):
    gt = photo(16, 40)
    with pytest.raises(UserError, match="small.png.*smaller than the crop gt_size 32"):
        paired_random_crop(gt, box_down(gt, 4), 32, 4, np.random.default_rng(0), "data/small.png")


def test_paired_random_crop_rejects_a_crop_not_divisible_by_the_scale(photo):
    gt = photo(32, 32)
    with pytest.raises(UserError, match="gt_size 30 is not divisible by scale 4"):
        paired_random_crop(gt, box_down(gt, 4), 30, 4, np.random.default_rng(0))


def test_augment_applies_the_same_flip_and_rotation_to_gt_and_lq(blocks):
    gt, lq = blocks(6, 5, 4)
    seen = set()
    for seed in range(64):
        gt_aug, lq_aug = augment([gt, lq], hflip=True, rot=True, rng=np.random.default_rng(seed))
        assert torch.equal(gt_aug, lq_aug.repeat_interleave(4, 1).repeat_interleave(4, 2))
        seen.add(tuple(lq_aug.shape) + tuple(lq_aug.flatten()[:6].tolist()))
    assert len(seen) == 8  # all rotations and mirrorings of the rectangle occur


def test_augment_flags_off_is_identity_and_hflip_only_keeps_rows(photo):
    img = photo(8, 12)
    rng = np.random.default_rng(0)
    for _ in range(10):
        assert torch.equal(augment([img], hflip=False, rot=False, rng=rng)[0], img)
    outs = [augment([img], hflip=True, rot=False, rng=rng)[0] for _ in range(20)]
    assert all(torch.equal(o, img) or torch.equal(o, img.flip(-1)) for o in outs)
    assert any(torch.equal(o, img.flip(-1)) for o in outs)


def test_mod_crop_keeps_the_top_left_multiple_and_rejects_a_too_small_image(photo):
    img = photo(75, 100)
    out = mod_crop(img, 8)
    assert out.shape == (3, 72, 96) and torch.equal(out, img[:, :72, :96])
    with pytest.raises(UserError, match="tiny.png: 100x75 is smaller than 128"):
        mod_crop(img, 128, "tiny.png")
