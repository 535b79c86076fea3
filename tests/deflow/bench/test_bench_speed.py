"""scripts/bench_speed.py: the reference RRDBNet it times ours against, its FLOP count, a quick run, a bad --out."""
import json
import math

import pytest
import torch

from deflow.archs.rrdbnet import RRDBNet
from deflow.bench.bench_speed import ReferenceRRDBNet, conv_flops, count_flops, main

TINY = ["matmul=64", "conv=16", "repeats=1", "warmup=1", "steps=1", "rrdb=16", "image=64", "tiles=320", "metric=32",
        "metric_images=1"]


@pytest.mark.parametrize("scale", [1, 2, 4])
def test_reference_rrdbnet_equals_ours_with_the_same_random_weights(scale):
    torch.manual_seed(scale)
    ours = RRDBNet(scale=scale, num_feat=8, num_block=2, num_grow_ch=4).eval()
    with torch.no_grad():  # weights far from the near-identity init, so every branch shows in the output
        for p in ours.parameters():
            p.copy_(torch.randn_like(p) * 0.3)
    reference = ReferenceRRDBNet(scale=scale, num_feat=8, num_block=2, num_grow_ch=4).eval()
    reference.load_state_dict(ours.state_dict())
    x = torch.rand(2, 3, 12, 16)
    with torch.no_grad():
        expected, found = ours(x), reference(x)
    assert found.shape == (2, 3, 12 * scale, 16 * scale)
    assert expected.abs().max() > 1e-2
    torch.testing.assert_close(found, expected, atol=1e-5, rtol=1e-5)


def test_flop_count_of_a_conv_layer_equals_the_hand_formula():
    conv = torch.nn.Conv2d(5, 7, 3, padding=1)
    x = torch.rand(2, 5, 9, 11, requires_grad=True)
    forward = 2 * 5 * 7 * 3 * 3 * 9 * 11 * 2  # a multiply and an add per weight, output pixel and image
    assert conv_flops(5, 7, 3, 9, 11, 2) == forward
    assert count_flops(lambda: conv(x)) == forward
    # backward: the input's gradient and the weights' gradient, each a convolution of the same size
    assert count_flops(lambda: conv(x).sum().backward()) == 3 * forward


def test_quick_run_writes_every_section(tmp_path):
    main(["--quick", "--out", str(tmp_path / "out"), "--device", "cpu", "--threads", "1",
          *[arg for size in TINY for arg in ("--size", size)]])
    report = json.loads((tmp_path / "out" / "speed.json").read_text())
    assert {"machine", "sizes", "peaks", "training", "rrdb", "large", "metrics", "goals"} <= set(report)
    assert report["peaks"]["matmul_gflops"] > 0 and report["peaks"]["conv_gflops"] > 0
    assert set(report["training"]) == {"deflow", "rrdb", "deflow, channels_last", "rrdb, channels_last"}
    for run in report["training"].values():
        assert run["iterations"] == 3  # warm-up, the counted step, the timed step
        assert math.isclose(run["gflops"], run["gflop_per_step"] * run["steps_per_s"], rel_tol=1e-9)
        assert run["gflop_per_step"] > 0
    assert report["rrdb"]["max_abs_difference"] <= 1e-5 and report["rrdb"]["time_ratio"] > 0
    assert report["large"]["translate"]["input"] == report["large"]["translate"]["output"] == [64, 64]
    assert report["large"]["sr"]["output"] == [128, 128]  # the RRDB config is x2
    assert all(case["peak_rss_bytes"] >= case["rss_before_bytes"] > 0 for case in report["large"].values())
    assert set(report["metrics"]["megapixels_per_s"]) >= {"psnr", "ssim"}
    assert "lpips" in report["metrics"]["megapixels_per_s"] or report["metrics"]["lpips"].startswith("unavailable")
    tiles = report["tiles"]
    assert tiles["side"] == 320 and 20 < tiles["sr_psnr_db"] < math.inf  # two tiles a side: not the same computation
    noise = tiles["translate_noise_std_8bit"]
    assert all(value > 0 for value in noise.values())
    assert math.isclose(tiles["translate_seam_ratio"], noise["seams"] / noise["elsewhere"], rel_tol=1e-9)
    met = {g["goal"]: g["met"] for g in report["goals"]}
    assert len(met) == 8 and [v for k, v in met.items() if "4096" in k or "1024" in k] == [None, None, None]
    assert "| goal |" in (tmp_path / "out" / "speed.md").read_text()


@pytest.mark.parametrize("bad, flag", [(["--out", "{tmp}/file/out"], "--out"),
                                       (["--sr-config", "confs/cpu/deflow-tiny.yml"], "--sr-config")])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, bad, flag):
    (tmp_path / "file").write_text("")  # a file: no folder can be made below it
    with pytest.raises(SystemExit) as exit_info:
        main(["--quick", "--out", str(tmp_path / "out"), *[arg.format(tmp=tmp_path) for arg in bad]])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {flag}") and err.count("\n") == 1
    assert not (tmp_path / "out").exists()  # checked before any work
