from collections import Counter
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

from deflow.config import load_options
from deflow.data import ColourNormalization, UnpairedDomainsDataset
from deflow.errors import UserError

NORMALIZE = {"clean_mean": [0.5, 0.4, 0.3], "clean_std": [0.2, 0.25, 0.3],
             "degraded_mean": [0.45, 0.5, 0.35], "degraded_std": [0.1, 0.2, 0.4]}


@pytest.fixture
def domains(pair_folders):
    """3 clean and 5 degraded block pairs (GT 48x64, LQ 12x16, scale 4)."""
    clean = pair_folders(n=3, h=48, w=64, name="clean", seed=0)
    degraded = pair_folders(n=5, h=48, w=64, name="degraded", seed=100)
    return clean, degraded


def options(domains, **extra) -> dict:
    (clean_gt, clean_lq), (degraded_gt, degraded_lq) = domains
    opt = dict(name="deflow", type="UnpairedDomainsDataset", phase="train", scale=4, manual_seed=10, gt_size=16,
               dataroot_clean_gt=str(clean_gt), dataroot_clean_lq=str(clean_lq),
               dataroot_degraded_gt=str(degraded_gt), dataroot_degraded_lq=str(degraded_lq))
    opt.update(extra)
    return opt


def test_each_domain_is_exactly_half_of_an_epoch(domains):
    ds = UnpairedDomainsDataset(options(domains))
    assert len(ds) == 10
    items = [ds[k] for k in range(len(ds))]
    labels = Counter(int(item["label"]) for item in items)
    assert labels == {0: 5, 1: 5}
    clean_paths = Counter(item["gt_path"] for item in items if item["label"] == 0)
    degraded_paths = Counter(item["gt_path"] for item in items if item["label"] == 1)
    assert all("/clean/" in p for p in clean_paths) and all("/degraded/" in p for p in degraded_paths)
    assert sorted(degraded_paths.values()) == [1] * 5  # the larger domain: every image once
    assert sorted(clean_paths.values()) == [1, 2, 2]  # the smaller one repeats


def test_same_k_same_item_and_later_epochs_crop_elsewhere(domains):
    ds = UnpairedDomainsDataset(options(domains))
    for k in (0, 7, 23):
        a, b = ds[k], ds[k]
        assert torch.equal(a["gt"], b["gt"]) and torch.equal(a["lq"], b["lq"]) and a["gt_path"] == b["gt_path"]
    epochs = [ds[k] for k in range(3, 200, len(ds))]
    assert len({item["gt_path"] for item in epochs}) == 1
    assert len({tuple(item["lq"].flatten().tolist()) for item in epochs}) > 10


def test_train_items_are_aligned_flipped_crops_with_labels(domains):
    ds = UnpairedDomainsDataset(options(domains, use_rot=True))
    for k in range(20):
        item = ds[k]
        assert set(item) == {"gt", "lq", "label", "gt_path", "lq_path"}
        assert item["gt"].shape == (3, 16, 16) and item["lq"].shape == (3, 4, 4)
        assert torch.equal(item["gt"], item["lq"].repeat_interleave(4, 1).repeat_interleave(4, 2))
        assert item["label"].dtype == torch.int64 and item["label"].shape == ()
    batch = next(iter(DataLoader(ds, batch_size=4)))
    assert batch["gt"].shape == (4, 3, 16, 16) and batch["label"].tolist() == [0, 0, 0, 0]


def test_val_phase_returns_every_image_once_mod_cropped_for_the_flow(domains, tmp_path):
    ds = UnpairedDomainsDataset(options(domains, phase="val", gt_size=None, scale=4))
    assert len(ds) == 8 and [int(ds[k]["label"]) for k in range(8)] == [0] * 3 + [1] * 5
    item = ds[0]
    assert item["gt"].shape == (3, 48, 64) and item["lq"].shape == (3, 12, 16)  # multiple 8 for scale 4
    cropped = UnpairedDomainsDataset(options(domains, phase="val", gt_size=None, size_multiple=32))[4]
    assert cropped["gt"].shape == (3, 32, 64) and cropped["lq"].shape == (3, 8, 16)
    assert torch.equal(cropped["gt"], cropped["lq"].repeat_interleave(4, 1).repeat_interleave(4, 2))


def test_flow_levels_are_copied_from_network_g_L():
    opt = load_options(Path(__file__).resolve().parents[3] / "confs" / "cpu" / "deflow-tiny.yml", ["network_g.L=2"])
    assert opt["datasets"]["train"]["flow_levels"] == 2


def test_train_crop_must_fit_the_flow(domains):
    with pytest.raises(UserError, match="gt_size 12 must be a positive multiple of 8"):
        UnpairedDomainsDataset(options(domains, gt_size=12))
    with pytest.raises(UserError, match="gt_size is required"):
        UnpairedDomainsDataset(options(domains, gt_size=None))
    with pytest.raises(UserError, match="size_multiple 6 is not divisible by scale 4"):
        UnpairedDomainsDataset(options(domains, size_multiple=6))


def test_colour_normalisation_maps_only_the_degraded_domain(domains):
    plain = UnpairedDomainsDataset(options(domains))
    normed = UnpairedDomainsDataset(options(domains, normalize=NORMALIZE))
    mu_c, sd_c = torch.tensor(NORMALIZE["clean_mean"]).view(3, 1, 1), torch.tensor(NORMALIZE["clean_std"]).view(3, 1, 1)
    mu_d = torch.tensor(NORMALIZE["degraded_mean"]).view(3, 1, 1)
    sd_d = torch.tensor(NORMALIZE["degraded_std"]).view(3, 1, 1)
    for k in (0, 9):
        a, b = plain[k], normed[k]
        if a["label"] == 0:
            assert torch.equal(a["gt"], b["gt"])
        else:
            for key in ("gt", "lq"):
                expected = ((a[key] - mu_d) / sd_d * sd_c + mu_c).clamp(0, 1)
                torch.testing.assert_close(b[key], expected, rtol=0, atol=1e-6)
            assert not torch.equal(a["gt"], b["gt"])


def test_colour_normalisation_inverse_and_bad_options():
    norm = ColourNormalization(NORMALIZE)
    x = torch.full((2, 3, 4, 4), 0.45)
    torch.testing.assert_close(norm.inverse(norm(x)), x, rtol=0, atol=1e-6)
    with pytest.raises(UserError, match="normalize must have exactly the keys"):
        ColourNormalization({"clean_mean": [0, 0, 0]})
    with pytest.raises(UserError, match=r"normalize.degraded_std must be positive"):
        ColourNormalization({**NORMALIZE, "degraded_std": [0.1, 0.0, 0.2]})
    with pytest.raises(UserError, match=r"normalize.clean_mean must be a list of 3 numbers"):
        ColourNormalization({**NORMALIZE, "clean_mean": [0.5, 0.5]})


def test_domain_errors_name_the_file(domains):
    (clean_gt, clean_lq), _ = domains
    (clean_lq / "002.png").unlink()
    with pytest.raises(UserError, match=r"clean/gt/002\.png: no LQ partner"):
        UnpairedDomainsDataset(options(domains))


def test_item_order_is_clean_then_degraded_with_the_smaller_domain_cycling(pair_folders):
    clean = pair_folders(n=5, name="clean", seed=0)
    degraded = pair_folders(n=2, name="degraded", seed=100)
    ds = UnpairedDomainsDataset(options((clean, degraded)))
    order = [(int(ds[k]["label"]), ds[k]["gt_path"].rsplit("/", 3)[-3], ds[k]["gt_path"][-7:-4]) for k in range(10)]
    assert order == [(0, "clean", f"{i:03d}") for i in range(5)] + \
        [(1, "degraded", f"{i % 2:03d}") for i in range(5)]
    assert ds[13]["gt_path"] == ds[3]["gt_path"]
