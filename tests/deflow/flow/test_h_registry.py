"""The registry of domain-invariant functions h (deflow.flow.h): every registered h keeps the contract (shapes,
deterministic downsample, perturb drawn from its generator alone), and each does what its docstring says, measured
against a direct computation."""
import re

import cv2
import numpy as np
import pytest
import torch

from deflow.errors import UserError
from deflow.flow import DeFlowNet
from deflow.flow.h import MedianDenoise, build_h, conditioning_image
from deflow.imageio import read_image, write_image
from deflow.registry import H_FUNCTIONS
from deflow.schema import signature_schema
from deflow.tools.sample_photos import photo
from degradations.resize import imresize

NAMES = [name for name in H_FUNCTIONS.names() if name != "dae"]  # dae needs a trained file: test_h_dae.py
DENOISERS = {"gaussian_denoise": ({"sigma": 2.0}, lambda img: cv2.GaussianBlur(img, (0, 0), 2.0)),
             "median_denoise": ({"kernel_size": 5}, lambda img: cv2.medianBlur(img, 5)),
             "bilateral_denoise": ({"sigma_color": 0.2, "sigma_space": 3.0},
                                   lambda img: cv2.bilateralFilter(img, 0, 0.2, 3.0))}


def crop(height: int = 32, width: int = 48) -> torch.Tensor:
    """(1, 3, height, width) of a photo: edges and texture for the filters to act on."""
    return photo("astronaut")[None, :, 100:100 + height, 120:120 + width]


def test_every_built_in_h_is_registered():
    assert {"bicubic_noise", "additive_noise", "multiplicative_noise", "gaussian_denoise", "median_denoise",
            "bilateral_denoise", "maxpool_noise", "chroma_blur_noise"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_downsample_maps_to_the_conditioning_size_deterministically_and_per_image(name):
    h = build_h({"type": name}, 4)
    x = torch.cat([crop(), torch.rand(1, 3, 32, 48, generator=torch.Generator().manual_seed(0))])
    lr = h.downsample(x)
    assert lr.shape == (2, 3, 8, 12) and lr.dtype == torch.float32
    assert torch.equal(lr, h.downsample(x.clone()))
    assert torch.equal(lr[1], h.downsample(x[1]))  # one (C, H, W) image, as create_dataset passes it
    assert h.perturb(lr, torch.Generator().manual_seed(0)).shape == lr.shape


@pytest.mark.parametrize("name", NAMES)
def test_downsample_keeps_a_flat_image(name):
    flat = torch.full((1, 3, 16, 16), 0.4)
    assert torch.allclose(build_h({"type": name}, 4).downsample(flat), torch.full((1, 3, 4, 4), 0.4), atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_perturb_is_reproducible_for_a_seed_and_differs_for_another(name):
    h = build_h({"type": name}, 4)
    lr = h.downsample(crop())
    draws = []
    for seed, global_seed in ((1, 10), (1, 20), (2, 10)):
        torch.manual_seed(global_seed)  # perturb must not read torch's global generator
        draws.append(h.perturb(lr, torch.Generator().manual_seed(seed)))
    assert torch.equal(draws[0], draws[1])
    assert not torch.equal(draws[0], draws[2])
    assert not torch.equal(draws[0], lr)


@pytest.mark.parametrize("name", NAMES)
def test_every_key_is_documented(name):
    schema = signature_schema(H_FUNCTIONS.get(name), skip=("self", "factor"))
    assert schema and all(key.doc for key in schema.values()), schema


@pytest.mark.parametrize("name", DENOISERS)
def test_denoiser_is_the_opencv_filter_then_bicubic(name):
    keys, reference = DENOISERS[name]
    image = crop()
    filtered = reference(np.ascontiguousarray(image[0].permute(1, 2, 0).numpy()))
    expected = imresize(torch.from_numpy(filtered).permute(2, 0, 1)[None], size=(8, 12))
    out = build_h({"type": name, **keys}, 4).downsample(image)
    assert torch.allclose(out, expected, atol=1e-6)
    assert not torch.allclose(out, imresize(image, size=(8, 12)), atol=1e-3)  # the filter did something


def test_median_removes_salt_and_pepper_that_bicubic_keeps():
    clean = crop(64, 64)
    u = torch.rand(1, 1, 64, 64, generator=torch.Generator().manual_seed(0))
    noisy = torch.where(u < 0.025, 0.0, torch.where(u > 0.975, 1.0, clean))  # 5 % of the pixels, all channels
    errors = {}
    for name in ("bicubic_noise", "median_denoise"):
        h = build_h({"type": name}, 4)
        errors[name] = (h.downsample(noisy) - h.downsample(clean)).abs().mean().item()
    assert errors["bicubic_noise"] > 0.01  # 5 % impulses of mean size ~0.5, averaged but kept
    assert errors["median_denoise"] < errors["bicubic_noise"] / 5, errors


def test_maxpool_is_the_maximum_of_each_block():
    x = torch.rand(2, 3, 8, 12, generator=torch.Generator().manual_seed(0))
    expected = torch.empty(2, 3, 2, 3)
    for b in range(2):
        for c in range(3):
            for i in range(2):
                for j in range(3):
                    expected[b, c, i, j] = max(x[b, c, 4 * i + di, 4 * j + dj].item()
                                               for di in range(4) for dj in range(4))
    assert torch.equal(build_h({"type": "maxpool_noise"}, 4).downsample(x), expected)


def test_multiplicative_noise_std_grows_with_the_intensity():
    h = build_h({"type": "multiplicative_noise", "noise_std": 0.05}, 4)
    stds = {}
    for level in (0.2, 0.8):
        flat = torch.full((1, 3, 64, 64), level)
        stds[level] = (h.perturb(flat, torch.Generator().manual_seed(0)) - flat).std().item()
    assert abs(stds[0.8] / stds[0.2] / 4 - 1) < 0.1, stds
    assert abs(stds[0.8] / (0.05 * 0.8) - 1) < 0.1, stds


def test_additive_noise_draws_a_std_per_image_within_its_range():
    h = build_h({"type": "additive_noise", "noise_std_min": 0.02, "noise_std_max": 0.08}, 4)
    flat = torch.full((16, 3, 64, 64), 0.5)
    stds = (h.perturb(flat, torch.Generator().manual_seed(0)) - flat).flatten(1).std(dim=1)
    assert stds.min() > 0.02 * 0.95 and stds.max() < 0.08 * 1.05, stds
    assert stds.max() - stds.min() > 0.02, stds  # a new std per image, not one for the batch


@pytest.mark.parametrize("section, message", [
    ({"type": "median_denoise", "nope": 1}, "network_g.h.nope: unknown key"),
    ({"type": "median_denoise", "kernel_size": 4}, "network_g.h.kernel_size: must be 3 or 5"),
    ({"type": "median_denoise", "kernel_size": 3.0}, "network_g.h.kernel_size: expected int"),
    ({"type": "gaussian_denoise", "sigma": 0}, "network_g.h.sigma: must be positive"),
    ({"type": "bilateral_denoise", "sigma_colour": 0.1}, "did you mean network_g.h.sigma_color?"),
    ({"type": "additive_noise", "noise_std_min": 0.05, "noise_std_max": 0.05}, "use type bicubic_noise"),
    ({"type": "max_pool_noise"}, "did you mean 'maxpool_noise'?"),
])
def test_a_bad_h_section_names_the_key(section, message):
    with pytest.raises(UserError, match=re.escape(message)):
        build_h(section, 4)


@pytest.mark.parametrize("name", NAMES)
def test_deflow_net_with_each_h_computes_a_finite_nll(name):
    torch.manual_seed(0)
    net = DeFlowNet(L=2, K=1, hidden_channels=8, cond_nf=8, cond_nb=1, cond_gc=4, scale=4, h={"type": name})
    assert isinstance(net.h, H_FUNCTIONS.get(name)) and net.h.factor == 4
    gt = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    nll = net.nll(gt, conditioning_image(net.h, gt), torch.tensor([0, 1]), generator=torch.Generator().manual_seed(2))
    assert nll.bits_per_dim.shape == (2,) and torch.isfinite(nll.bits_per_dim).all()


def test_create_dataset_writes_a_new_h_with_its_defaults_and_with_set_keys(tmp_path, capsys, cli):
    from deflow.tools.create_dataset import main

    image = crop(32, 48)[0]
    write_image(tmp_path / "src" / "a.png", image)
    run = cli("scripts/create_dataset.py", "-source", tmp_path / "src", "-target", tmp_path / "default", "-scales", "1",
              "4", "--h", "median_denoise")
    assert run.returncode == 0, run.stderr
    main(["-source", str(tmp_path / "src"), "-target", str(tmp_path / "five"), "-scales", "1", "4",
          "--h", "median_denoise", "--h_set", "kernel_size=5"])
    default, five = (read_image(tmp_path / folder / "4x" / "a.png") for folder in ("default", "five"))
    assert torch.equal(default, conditioning_image(MedianDenoise(4), image))
    assert torch.equal(five, conditioning_image(MedianDenoise(4, kernel_size=5), image))
    assert not torch.equal(default, five)
    with pytest.raises(SystemExit):
        main(["-source", str(tmp_path / "src"), "-target", str(tmp_path / "bad"), "--h", "median_denoise",
              "--h_set", "kernel_sise=5"])
    assert "network_g.h.kernel_sise: unknown key; did you mean network_g.h.kernel_size?" in capsys.readouterr().err
