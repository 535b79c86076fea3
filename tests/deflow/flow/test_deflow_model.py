"""DeFlowModel end to end on tiny data: training through the trainer, translate.py on odd sizes, seeds, modes,
errors, fine-tuning."""
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml

from deflow import checkpoint
from deflow.config import load_options
from deflow.imageio import read_image, write_image
from deflow.tools.sample_photos import photo
from deflow.trainer import train
from metrics.noise import noise_std


@pytest.fixture(scope="module")
def tiny_deflow(tmp_path_factory):
    """A DeFlow checkpoint after 3 iterations on 32 px crops; plus two odd-sized clean images."""
    root = tmp_path_factory.mktemp("deflow")
    for domain, names in (("clean", ["astronaut", "coffee"]), ("degraded", ["rocket"])):
        for name in names:
            img = photo(name)[:, :96, :128]
            if domain == "degraded":
                img = (img + 0.03 * torch.randn_like(img)).clamp(0, 1)
            write_image(root / domain / "gt" / f"{name}.png", img)
            write_image(root / domain / "lq" / f"{name}.png", F.avg_pool2d(img[None], 4)[0])
    write_image(root / "src" / "odd.png", photo("chelsea")[:, :101, :77])
    write_image(root / "src" / "small.png", photo("chelsea")[:, 50:69, 60:83])
    opt = yaml.safe_load(open("confs/cpu/deflow-tiny.yml"))
    opt["datasets"]["train"].update(
        dataroot_clean_gt=str(root / "clean/gt"), dataroot_clean_lq=str(root / "clean/lq"),
        dataroot_degraded_gt=str(root / "degraded/gt"), dataroot_degraded_lq=str(root / "degraded/lq"), gt_size=32,
        batch_size_per_gpu=2)
    opt["datasets"]["val"] = dict(opt["datasets"]["train"], gt_size=None)
    opt["network_g"].update(K=1, hidden_channels=8, cond_nf=8, cond_nb=1, cond_gc=4)
    opt["train"].update(total_iter=3, warmup_iter=0)
    opt["val"] = {"val_freq": 3, "metrics": ["nll", "nll_clean", "nll_degraded", "nll_bpp"]}
    opt["logger"] = {"print_freq": 1, "save_checkpoint_freq": 3, "use_tb_logger": False}
    opt["path"] = {"experiments_root": str(root / "exp")}
    (root / "tiny.yml").write_text(yaml.safe_dump(opt))
    train(load_options(root / "tiny.yml"))
    return root, checkpoint.latest(root / "exp" / "checkpoints")


def test_training_logs_nll_and_validates_per_domain(tiny_deflow):
    root, ckpt = tiny_deflow
    log = (root / "exp" / "train.log").read_text()
    assert "nll_clean" in log and "nll_degraded" in log
    state = checkpoint.load(ckpt)
    assert set(state["best"]) == {"nll", "nll_clean", "nll_degraded", "nll_bpp"}
    assert all(np.isfinite(v["value"]) for v in state["best"].values())


def test_translate_keeps_odd_sizes_and_is_bit_identical_per_seed(cli, main_in_process, tiny_deflow, tmp_path):
    from deflow.tools.translate import main

    root, ckpt = tiny_deflow
    outs = {}
    for run, seed, tile in (("a", 0, 0), ("b", 0, 0), ("c", 1, 0), ("tiled", 0, 48)):
        args = ["--model_path", ckpt, "--source_dir", root / "src", "--out_dir", tmp_path / run, "--seed", seed,
                "--tile", tile, "--device", "cpu"]
        if run == "b":  # once as a user runs it, in a new process: same bits
            result = cli("scripts/translate.py", *map(str, args))
            assert result.returncode == 0, result.stderr
        else:
            code, _, err = main_in_process(main, *args)
            assert code == 0, err
        outs[run] = {name: read_image(tmp_path / run / f"{name}.png") for name in ("odd", "small")}
    assert outs["a"]["odd"].shape == (3, 101, 77) and outs["a"]["small"].shape == (3, 19, 23)
    assert outs["tiled"]["odd"].shape == (3, 101, 77)
    assert all(torch.equal(outs["a"][n], outs["b"][n]) for n in ("odd", "small"))
    assert not torch.equal(outs["a"]["odd"], outs["c"]["odd"])


def with_shift(ckpt, a_scale: float, path) -> str:
    """A copy of checkpoint `ckpt` whose every level's shift is u ~ N(0, (a_scale I)^2), written to `path`."""
    state = checkpoint.load(ckpt)
    for weights in (state["model"]["nets"]["g"], *state["model"]["ema"].values()):
        for key, value in weights.items():
            if key.startswith("shifts."):
                value.copy_(a_scale * torch.eye(len(value)) if key.endswith(".A") else torch.zeros_like(value))
    checkpoint.save_atomic(state, path)
    return str(path)


@pytest.fixture(scope="module")
def noisy_shift(tiny_deflow, tmp_path_factory) -> str:
    """The trained checkpoint with every level's degraded density set to N(0, I + A A^T), A = 2 I: a model whose
    degraded domain is its clean one plus strong noise (3 iterations learn too small a shift to measure)."""
    return with_shift(tiny_deflow[1], 2.0, tmp_path_factory.mktemp("noisy_shift") / "noisy_shift.pth")


def translated(main_in_process, ckpt, source_dir, out_dir, mode) -> dict[str, torch.Tensor]:
    from deflow.tools.translate import main

    code, _, err = main_in_process(main, "--model_path", ckpt, "--source_dir", source_dir, "--out_dir", out_dir,
                                   "--mode", mode, "--device", "cpu")
    assert code == 0, err
    return {path.stem: read_image(path) for path in out_dir.iterdir()}


def test_restore_lowers_the_noise_of_a_degraded_image(main_in_process, tiny_deflow, noisy_shift, tmp_path):
    root, _ = tiny_deflow
    degraded = read_image(root / "degraded" / "gt" / "rocket.png")[:, :93, :117]  # odd sides: padded, cropped back
    write_image(tmp_path / "src" / "rocket.png", degraded)
    restored = translated(main_in_process, noisy_shift, tmp_path / "src", tmp_path / "restored", "restore")["rocket"]
    assert restored.shape == degraded.shape
    assert noise_std(restored) < 0.5 * noise_std(degraded)  # 8.4 -> 2.7 (8-bit units)


def test_sample_degraded_is_noisier_than_sample_clean(main_in_process, tiny_deflow, noisy_shift, tmp_path):
    root, _ = tiny_deflow
    noise = {}
    for mode in ("sample_clean", "sample_degraded"):
        images = translated(main_in_process, noisy_shift, root / "src", tmp_path / mode, mode)
        assert images["odd"].shape == (3, 101, 77) and images["small"].shape == (3, 19, 23)
        noise[mode] = noise_std(images["odd"])
    assert noise["sample_degraded"] > 1.3 * noise["sample_clean"]  # 59.5 vs 36.6 (8-bit units)


def test_translate_refuses_its_source_folder_and_missing_inputs(cli, main_in_process, tiny_deflow, tmp_path):
    from deflow.tools.translate import main

    root, ckpt = tiny_deflow
    cases = [
        (["--source_dir", str(root / "src"), "--out_dir", str(root / "src")], "is also an input folder"),
        (["--source_dir", str(tmp_path / "nope"), "--out_dir", str(tmp_path / "o")], "folder not found"),
    ]
    for args, message in cases:
        code, _, err = main_in_process(main, "--model_path", ckpt, *args)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    missing = cli("scripts/translate.py", "--model_path", str(tmp_path / "x.pth"), "--source_dir", str(root / "src"),
                  "--out_dir", str(tmp_path / "o"))
    assert missing.returncode == 2 and "checkpoint not found" in missing.stderr


def test_fine_tuning_starts_from_the_checkpoint_weights_with_a_fresh_optimizer(tiny_deflow, tmp_path):
    """One iteration at learning rate 0 keeps the weights as loaded; a fresh Adam has then taken 1 step, where the
    source checkpoint's optimizer had taken 3."""
    root, ckpt = tiny_deflow
    opt = load_options(root / "tiny.yml", [f"path.experiments_root={tmp_path / 'ft'}", "train.total_iter=1",
                                           "train.optim_g.lr=0.0", f"path.pretrain_network_g={ckpt}",
                                           "val.val_freq=null"])
    train(opt)
    source, tuned = checkpoint.load(ckpt), checkpoint.load(checkpoint.latest(tmp_path / "ft" / "checkpoints"))
    weights, loaded = source["model"]["nets"]["g"], tuned["model"]["nets"]["g"]
    assert loaded.keys() == weights.keys() and all(torch.equal(loaded[k], weights[k]) for k in weights)
    assert {int(s["step"]) for s in source["optimizers"]["g"]["state"].values()} == {3}
    assert {int(s["step"]) for s in tuned["optimizers"]["g"]["state"].values()} == {1}


def test_diagnose_reports_noise_levels_and_the_shift_variance_of_the_checkpoint(main_in_process, tiny_deflow, tmp_path):
    from deflow.bench.deflow_diagnose import diagnose, main
    from deflow.models.loading import load_for_inference

    root, ckpt = tiny_deflow
    model = load_for_inference(ckpt, device="cpu")
    result = diagnose(model, root / "clean/gt", root / "degraded/gt")
    noise = result["noise_std_8bit"]
    assert set(noise) == {"clean", "degraded", "degrade", "sample_degraded", "restore"}
    assert noise["degraded"] > noise["clean"] + 3  # 0.03 * 255 = 7.65 added to the degraded domain's images
    net = model.net_for_inference("g")
    rocket = read_image(root / "degraded/gt/rocket.png")[None]
    conds = net.condition(model.conditioning_image(rocket), torch.Generator().manual_seed(0))
    for level, value in result["latent_variance"]["model_degraded"].items():
        shift = net.shifts[level]
        a = shift.A.detach().double()
        scale = shift.content(conds[int(level) - 1]).chunk(2, dim=1)[1].exp().double()  # the content shift's S(c)
        # diag(S A A^T S)_c = s_c^2 |row c of A|^2, averaged over channels and pixels
        expected = 1 + float(((scale ** 2) * (a * a).sum(1).view(1, -1, 1, 1)).mean(1).mean())
        assert value == pytest.approx(expected, rel=1e-9)
    assert set(result["latent_variance"]["clean"]) == set(result["latent_variance"]["model_degraded"])
    assert all(0 < v < 100 for domain in ("clean", "degraded") for v in result["latent_variance"][domain].values())
    from metrics.realism import detail_transfer
    translated = [read_image(p) for p in sorted((root / "clean/gt").iterdir())]
    transfer = result["detail_transfer"]
    assert len(transfer["frequency"]) == len(transfer["translated"]) == 10 and "paired_real" not in transfer
    assert transfer["translated"] != pytest.approx(detail_transfer(translated, translated)[1].tolist())  # not 1s
    code, _, err = main_in_process(main, "--model_path", ckpt, "--clean", tmp_path / "nope", "--degraded", root / "src")
    assert code == 2 and "nope: folder not found" in err


def test_noise_by_texture_is_flat_for_a_camera_and_rises_for_texture_following_noise():
    from deflow.bench.deflow_diagnose import noise_by_texture

    generator = torch.Generator().manual_seed(0)
    clean = [photo(name)[:, :192, :192] for name in ("astronaut", "coffee", "chelsea")]
    white = [c + 10 / 255 * torch.randn(c.shape, generator=generator) for c in clean]
    grey = [c.mean(0, keepdim=True)[None] for c in clean]
    local_std = [(F.avg_pool2d(g ** 2, 7, 1, 3) - F.avg_pool2d(g, 7, 1, 3) ** 2).clamp_min(0).sqrt()[0] for g in grey]
    following = [c + 3 * s * torch.randn(c.shape, generator=generator) for c, s in zip(clean, local_std)]
    flat = [r["std_8bit"] for r in noise_by_texture(clean, white)]
    rising = [r["std_8bit"] for r in noise_by_texture(clean, following)]
    assert all(abs(v - 10) < 1.5 for v in flat)  # sigma 10 in every bin
    # leakage across the 7x7 windows lifts the flattest bin next to edges; the trend stays
    assert rising[-1] > rising[3] > rising[0] and rising[-1] > 3 * rising[0]
    assert sum(r["fraction"] for r in noise_by_texture(clean, white)) == pytest.approx(1.0)


def test_heat_auto_finds_the_heat_of_the_real_images(main_in_process, tiny_deflow, tmp_path):
    from deflow.models.loading import load_for_inference
    from deflow.tools.translate import main, translate_folder

    root, ckpt = tiny_deflow
    unit_shift = with_shift(ckpt, 0.2, tmp_path / "shift.pth")  # translations' noise ~8 (8-bit) at heat 1
    model = load_for_inference(unit_shift, device="cpu")
    with torch.no_grad():
        translate_folder(model, root / "clean" / "gt", tmp_path / "real", heat=1.6, seed=7)  # other noise draws
    code, out, err = main_in_process(main, "--model_path", unit_shift, "--source_dir", root / "clean" / "gt",
                                     "--out_dir", tmp_path / "auto", "--heat", "auto", "--real", tmp_path / "real")
    assert code == 0, err
    heat = float(re.search(r"--heat auto: (\S+)", out).group(1))
    assert 1.6 / 1.3 < heat < 1.6 * 1.3, heat  # the NLF distance is 2.0 at heat 1.6, 5.6 at 1.0, 8.1 at 2.5
    for args, message in ((["--heat", "auto"], "give --real DIR"), (["--heat", "hot"], "expected a number or 'auto'")):
        code, _, err = main_in_process(main, "--model_path", unit_shift, "--source_dir", root / "clean" / "gt",
                                       "--out_dir", tmp_path / "x", *args)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("floor", ["white", "scaled"])
def test_the_noise_floor_fills_only_where_the_translation_lacks_noise(floor):
    """A flat source translated with noise std 5 (left half) and 30 (right half), floor line b = 20^2 (8-bit^2):
    the left half comes out with std 20, the right half keeps its 30, and one seed gives one image."""
    from functools import partial

    from deflow.tools.translate import raise_noise_floor
    raise_noise_floor = partial(raise_noise_floor, floor=floor)

    source = torch.full((3, 128, 256), 0.5)
    std = torch.cat([torch.full((3, 128, 128), 5.0), torch.full((3, 128, 128), 30.0)], 2) / 255
    translated = source + std * torch.randn(source.shape, generator=torch.Generator().manual_seed(0))
    line = torch.tensor([[0.0, 400.0]] * 3)
    out = raise_noise_floor(translated, source, line, torch.Generator().manual_seed(1))
    left, right = ((out - source)[..., cols].std().item() * 255 for cols in (slice(8, 120), slice(136, 248)))
    assert left == pytest.approx(20, rel=0.08) and right == pytest.approx(30, rel=0.05), (left, right)
    again = raise_noise_floor(translated, source, line, torch.Generator().manual_seed(1))
    assert torch.equal(out, again)
    slope = raise_noise_floor(source, source, torch.tensor([[1600.0, 0.0]] * 3), torch.Generator().manual_seed(1))
    assert (slope - source).std().item() * 255 == pytest.approx(40 * 0.5 ** 0.5, rel=0.05)  # a x at x = 0.5


def lag1_correlation(x: torch.Tensor) -> float:
    """Correlation of horizontally neighbouring pixels of (3, H, W) x around its mean."""
    x = x - x.mean()
    return ((x[..., 1:] * x[..., :-1]).mean() / x.square().mean()).item()


def test_the_scaled_floor_amplifies_the_flows_own_noise_and_keeps_its_structure():
    """A translation = a flat source + a colour offset + spatially correlated noise (white noise through a 3x3 box:
    neighbour correlation 2/3) of std 5, floor 20^2: the scaled floor multiplies that noise by ~4 (the output's
    residual is the planted one times ~4, correlation > 0.9, neighbour correlation > 0.55) and keeps the
    offset; the white floor reaches the same std with independent noise (neighbour correlation ~ 2/3 / 16)."""
    import torch.nn.functional as F

    from deflow.tools.translate import raise_noise_floor

    source = torch.full((3, 128, 128), 0.5)
    white = torch.randn((3, 1, 132, 132), generator=torch.Generator().manual_seed(0))
    planted = F.avg_pool2d(white, 3, stride=1)[:, 0, 1:-1, 1:-1]
    planted = planted / planted.std() * 5 / 255
    offset = torch.tensor([0.04, -0.02, 0.01]).view(3, 1, 1)
    translated = source + offset + planted
    line = torch.tensor([[0.0, 400.0]] * 3)
    outputs = {floor: raise_noise_floor(translated, source, line, torch.Generator().manual_seed(1), floor)
               for floor in ("scaled", "white")}
    inner = (slice(None), slice(8, -8), slice(8, -8))
    for floor, out in outputs.items():
        noise = (out - source - offset)[inner]
        assert noise.std().item() * 255 == pytest.approx(20, rel=0.06), floor
        assert (out - source).mean((1, 2)) == pytest.approx(offset.flatten(), abs=0.002), floor
    scaled, plain = ((out - source - offset)[inner] for out in outputs.values())
    def correlation(x):
        return torch.corrcoef(torch.stack([x.flatten(), planted[inner].flatten()]))[0, 1].item()
    assert correlation(scaled) > 0.9 and correlation(plain) < 0.35  # the gain follows a 7x7 estimate of the energy
    assert lag1_correlation(planted[inner]) == pytest.approx(2 / 3, abs=0.03)
    assert lag1_correlation(scaled) > 0.55  # the varying gain and the coarse part's removal take a little
    assert lag1_correlation(plain) < 0.12


def test_keep_colour_takes_out_the_translations_coarse_colour_change_and_keeps_its_noise():
    """The change keep_source_colour keeps is linear in translated - source: of a smooth colour ramp it keeps
    less than 0.1 8-bit units (away from the borders), of white noise of std 10 its std within 3 %."""
    from deflow.tools.translate import keep_source_colour

    source = torch.rand((3, 96, 96), generator=torch.Generator().manual_seed(0))
    ramp = torch.linspace(0, 0.08, 96).view(1, 1, 96).expand(3, 96, 96) * torch.tensor([1.0, -0.5, 0.2]).view(3, 1, 1)
    noise = 10 / 255 * torch.randn(source.shape, generator=torch.Generator().manual_seed(1))
    inner = (slice(None), slice(16, -16), slice(16, -16))
    kept_ramp = keep_source_colour(source + ramp, source, 4.0) - source
    assert kept_ramp[inner].abs().max().item() * 255 < 0.1
    kept_noise = keep_source_colour(source + noise, source, 4.0) - source
    assert kept_noise[inner].std().item() == pytest.approx(noise[inner].std().item(), rel=0.03)


def test_translate_noise_floor_brings_the_noise_level_function_to_the_real_images(main_in_process, tiny_deflow,
                                                                                  tmp_path):
    """Real images: the clean ones with noise of std 15; the floor lifts the translations' noise-level function
    from the tiny model's own (~1) to within 2 of the real one, and needs --real."""
    from deflow.tools.translate import main
    from metrics.realism.nlf import estimate_nlf, nlf_distance

    root, ckpt = tiny_deflow
    clean = sorted((root / "clean" / "gt").iterdir())
    for i, path in enumerate(clean):
        img = read_image(path)
        write_image(tmp_path / "real" / path.name,
                    img + 15 / 255 * torch.randn(img.shape, generator=torch.Generator().manual_seed(i)))

    def nlf(folder):
        return estimate_nlf([read_image(p) for p in sorted(folder.iterdir())])
    distances = {}
    for name, extra in (("plain", []), ("floor", ["--noise-floor", "--real", tmp_path / "real"])):
        code, out, err = main_in_process(main, "--model_path", ckpt, "--source_dir", root / "clean" / "gt",
                                         "--out_dir", tmp_path / name, *extra)
        assert code == 0, err
        distances[name] = nlf_distance(nlf(tmp_path / name), nlf(tmp_path / "real"))
    assert distances["floor"] < 2 < 8 < distances["plain"], distances
    for args, message in ((["--noise-floor"], "--noise-floor calibrates the degrade mode"),
                          (["--keep-colour", "0"], "--keep-colour 0.0: give a positive sigma")):
        code, _, err = main_in_process(main, "--model_path", ckpt, "--source_dir", root / "clean" / "gt",
                                       "--out_dir", tmp_path / "x", *args)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_translate_takes_a_config_with_only_what_inference_needs(main_in_process, tiny_deflow, tmp_path):
    from deflow.tools.translate import main

    root, ckpt = tiny_deflow
    net = yaml.safe_load((root / "tiny.yml").read_text())["network_g"]
    conf = tmp_path / "infer.yml"
    conf.write_text(yaml.safe_dump({"model_type": "DeFlowModel", "scale": 4, "network_g": net,
                                    "path": {"pretrain_network_g": str(ckpt)}}))
    code, out, err = main_in_process(main, "-opt", conf, "--source_dir", root / "src", "--out_dir", tmp_path / "o")
    assert code == 0, err
    assert read_image(tmp_path / "o" / "odd.png").shape == (3, 101, 77)
