import pytest
import torch

from deflow.data import PairedImageDataset, SingleImageDataset
from deflow.errors import UserError
from deflow.imageio import write_image
from deflow.registry import DATASETS


def options(gt_dir, lq_dir, **extra) -> dict:
    opt = dict(name="pairs", type="PairedImageDataset", phase="train", scale=4, manual_seed=7,
               dataroot_gt=str(gt_dir), dataroot_lq=str(lq_dir), gt_size=16)
    opt.update(extra)
    return opt


def enlarge(lq: torch.Tensor, scale: int) -> torch.Tensor:
    return lq.repeat_interleave(scale, 1).repeat_interleave(scale, 2)


def test_datasets_are_registered_when_deflow_data_datasets_is_imported():
    import deflow.data.datasets  # noqa: F401
    for name in ("PairedImageDataset", "UnpairedDomainsDataset", "SingleImageDataset"):
        assert DATASETS.get(name).__name__ == name


def test_train_items_are_aligned_crops_and_a_function_of_k(pair_folders):
    ds = PairedImageDataset(options(*pair_folders(n=3)))
    assert len(ds) == 3
    for k in range(12):
        item = ds[k]
        assert set(item) == {"lq", "gt", "lq_path", "gt_path"}
        assert item["gt"].shape == (3, 16, 16) and item["lq"].shape == (3, 4, 4)
        assert item["gt"].dtype == torch.float32
        assert torch.equal(item["gt"], enlarge(item["lq"], 4))
        assert item["gt_path"].endswith(f"gt/{k % 3:03d}.png") and item["lq_path"].endswith(f"lq/{k % 3:03d}.png")
        again = ds[k]
        assert torch.equal(again["gt"], item["gt"]) and torch.equal(again["lq"], item["lq"])
    same_image = [ds[k]["lq"] for k in range(0, 30, 3)]
    assert len({tuple(x.flatten().tolist()) for x in same_image}) > 5  # epochs see different crops


def test_manual_seed_changes_the_crops(pair_folders):
    folders = pair_folders(n=1)
    a = PairedImageDataset(options(*folders, manual_seed=1))
    b = PairedImageDataset(options(*folders, manual_seed=2))
    assert any(not torch.equal(a[k]["lq"], b[k]["lq"]) for k in range(5))


def test_cached_and_uncached_items_are_equal(pair_folders):
    folders = pair_folders(n=2)
    plain = PairedImageDataset(options(*folders))
    cached = PairedImageDataset(options(*folders, cache_images=True))
    for k in range(4):
        assert torch.equal(plain[k]["gt"], cached[k]["gt"])
    cached[0]["gt"].zero_()
    assert torch.equal(plain[0]["gt"], cached[0]["gt"])  # the cache hands out copies


def test_val_items_are_whole_images(pair_folders):
    ds = PairedImageDataset(options(*pair_folders(n=2, h=48, w=64), phase="val", gt_size=None))
    item = ds[1]
    assert item["gt"].shape == (3, 48, 64) and item["lq"].shape == (3, 12, 16)
    assert torch.equal(item["gt"], enlarge(item["lq"], 4))


def test_filename_tmpl_matches_lq_names(tmp_path, blocks):
    gt, lq = blocks(4, 4, 2)
    write_image(tmp_path / "gt" / "0001.png", gt)
    write_image(tmp_path / "lq" / "0001x2.png", lq)
    ds = PairedImageDataset(options(tmp_path / "gt", tmp_path / "lq", scale=2, gt_size=4, filename_tmpl="{}x2"))
    assert ds[0]["lq_path"].endswith("0001x2.png")


def test_missing_partner_names_the_gt_file(pair_folders):
    gt_dir, lq_dir = pair_folders(n=2)
    (lq_dir / "001.png").unlink()
    with pytest.raises(UserError, match=r"gt/001\.png: no LQ partner named 001\.\*"):
        PairedImageDataset(options(gt_dir, lq_dir))


def test_size_mismatch_for_the_scale_names_the_file_both_sizes_and_the_scale(pair_folders):
    gt_dir, lq_dir = pair_folders(n=2, h=48, w=64, scale=4)
    with pytest.raises(UserError, match=r"gt/000\.png: GT is 64x48 but its LQ .*lq/000\.png is 16x12; with scale 2"):
        PairedImageDataset(options(gt_dir, lq_dir, scale=2))


def test_empty_and_missing_folders_are_named(tmp_path, pair_folders):
    gt_dir, lq_dir = pair_folders(n=1)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="empty: no images"):
        PairedImageDataset(options(gt_dir, tmp_path / "empty"))
    with pytest.raises(UserError, match="nowhere: folder not found"):
        PairedImageDataset(options(tmp_path / "nowhere", lq_dir))


def test_corrupt_image_names_the_file(pair_folders):
    gt_dir, lq_dir = pair_folders(n=2)
    (lq_dir / "001.png").write_bytes(b"this is not a png" * 20)
    with pytest.raises(UserError, match=r"lq/001\.png: not a readable image"):
        PairedImageDataset(options(gt_dir, lq_dir))


def test_train_needs_gt_size_divisible_by_scale_and_not_larger_than_the_images(pair_folders):
    folders = pair_folders(n=1, h=48, w=64)
    with pytest.raises(UserError, match="gt_size is required for training"):
        PairedImageDataset(options(*folders, gt_size=None))
    with pytest.raises(UserError, match="gt_size 18 must be a positive multiple of 4"):
        PairedImageDataset(options(*folders, gt_size=18))
    with pytest.raises(UserError, match=r"gt/000\.png: 64x48 is smaller than gt_size \(64 px\)"):
        PairedImageDataset(options(*folders, gt_size=64))


def test_single_image_dataset_returns_every_image_whole(pair_folders):
    _, lq_dir = pair_folders(n=2, h=48, w=64)
    ds = SingleImageDataset({"name": "real", "phase": "val", "scale": 4, "dataroot_lq": str(lq_dir),
                             "cache_images": False})
    assert len(ds) == 2
    item = ds[1]
    assert set(item) == {"lq", "lq_path"} and item["lq"].shape == (3, 12, 16) and item["lq_path"].endswith("001.png")


def test_a_missing_required_option_is_named(pair_folders):
    opt = options(*pair_folders(n=1))
    del opt["dataroot_lq"]
    with pytest.raises(UserError, match="missing required option 'dataroot_lq'"):
        PairedImageDataset(opt)
