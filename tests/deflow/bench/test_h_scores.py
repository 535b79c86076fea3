"""The h ablation's scores (deflow/bench/h_scores.py): h_gap against a direct computation, its masking behaviour,
the held-out NLL against per-tile NLLs, and the training time read from a train.log."""
import math

import pytest
import torch

from deflow.bench.h_scores import CROP, h_gap, heldout_nll, tile_count, training_seconds
from deflow.flow.h import build_h, conditioning_image
from deflow.tools.sample_photos import photo


def pair(noise: float = 0.04, size: int = 64) -> tuple[list, list]:
    """Two photo crops and the same with white noise of std `noise` (rounded to 8 bit)."""
    clean = [photo(name)[:, 40:40 + size, 60:60 + size] for name in ("astronaut", "coffee")]
    real = [(img + noise * torch.randn(img.shape, generator=torch.Generator().manual_seed(i))).clamp(0, 1)
            .mul(255).round().div(255) for i, img in enumerate(clean)]
    return clean, real


def test_h_gap_without_masking_noise_is_the_rms_residual_of_the_conditionings():
    clean, real = pair()
    h = build_h({"type": "bicubic_noise", "noise_std": 0.0}, 4)
    residual = torch.cat([(conditioning_image(h, r[None]) - conditioning_image(h, c[None])).flatten() * 255
                          for c, r in zip(clean, real)])
    assert h_gap(h, clean, real) == pytest.approx(residual.pow(2).mean().sqrt().item(), rel=1e-6)
    assert h_gap(h, clean, clean) == 0


def test_masking_noise_shrinks_h_gap_as_sqrt_of_gap_squared_plus_noise_squared_minus_noise():
    clean, real = pair(size=192)  # 13824 values: the cross term of gap and noise averages out to a few %
    g = h_gap(build_h({"type": "bicubic_noise", "noise_std": 0.0}, 4), clean, real)
    n = 0.03 * 255
    masked = h_gap(build_h({"type": "bicubic_noise", "noise_std": 0.03}, 4), clean, real)
    assert masked < g / 2
    assert masked == pytest.approx(math.sqrt(g ** 2 + n ** 2) - n, rel=0.2)


def test_heldout_nll_is_the_mean_over_tiles_cut_from_the_whole_images_conditioning(tmp_path):
    from deflow.config import load_options
    from deflow.flow.deflow_model import DeFlowModel
    from tests.conftest import write_tiny_deflow_config

    model = DeFlowModel(load_options(write_tiny_deflow_config(tmp_path)), torch.device("cpu"))
    model.train(False)
    images = [photo("chelsea")[:, :96, :144], photo("rocket")[:, :48, :100]]  # 6 tiles, and 2 with a margin
    assert tile_count(images) == 8
    per_tile = []
    net = model.net_for_inference("g")
    for img in images:
        lq = conditioning_image(net.h, img[None])
        for top in range(0, img.shape[1] - CROP + 1, CROP):
            for left in range(0, img.shape[2] - CROP + 1, CROP):
                per_tile.append((img[None, :, top:top + CROP, left:left + CROP],
                                 lq[..., top // 4:(top + CROP) // 4, left // 4:(left + CROP) // 4]))
    gts, lqs = (torch.cat(t) for t in zip(*per_tile))
    with torch.no_grad():
        expected = net.nll(gts, lqs, torch.ones(8), generator=torch.Generator().manual_seed(0)).bits_per_dim.mean()
    assert heldout_nll(model, images, 1) == pytest.approx(expected.item(), rel=1e-5)


def test_training_seconds_spans_the_log_to_its_done_line(tmp_path):
    lines = ["2026-12-01 19:02:01 INFO experiment x", "progress bar without a date",
             "2026-12-01 19:03:15 INFO iter 200  lr 5.000e-04  nll 2.464"]
    (tmp_path / "train.log").write_text("\n".join(lines) + "\n")
    assert training_seconds(tmp_path) is None  # not finished
    with open(tmp_path / "train.log", "a") as log:
        log.write("2026-12-01 19:20:26 INFO done: 1500 iterations; checkpoints in x\n")
    assert training_seconds(tmp_path) == 18 * 60 + 25
    assert training_seconds(tmp_path / "nosuch") is None
