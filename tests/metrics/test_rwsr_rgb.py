"""rwsr_rgb reproduces scikit-image's PSNR and SSIM, the DeFlow/DASR protocol, on 8-bit RGB images."""
import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from metrics import score
from metrics.presets import get_preset
from tests.metrics.photos import photo_pair, to_tensor

CASES = [  # photo, height, width, crop border
    ("astronaut", 128, 128, 0),
    ("coffee", 97, 131, 2),
    ("chelsea", 75, 203, 3),
    ("rocket", 233, 61, 4),
    ("astronaut", 15, 16, 4),  # 7x8 after the crop: a single row of SSIM windows
]


def skimage_scores(gt: np.ndarray, pred: np.ndarray, border: int) -> tuple[float, float]:
    if border:
        gt, pred = gt[border:-border, border:-border], pred[border:-border, border:-border]
    return (peak_signal_noise_ratio(gt, pred),
            structural_similarity(gt, pred, channel_axis=-1, data_range=255))


@pytest.mark.parametrize("name,height,width,border", CASES)
def test_rwsr_rgb_equals_skimage_psnr_and_ssim(name, height, width, border):
    gt, pred = photo_pair(name, height, width)
    result = score(to_tensor(pred), to_tensor(gt), "rwsr_rgb", crop_border=border)
    ref_psnr, ref_ssim = skimage_scores(gt, pred, border)
    assert result["psnr"].shape == (1,) and result["psnr"].dtype == torch.float64
    assert abs(result["psnr"].item() - ref_psnr) < 1e-6
    assert abs(result["ssim"].item() - ref_ssim) < 1e-6


def test_batch_gives_the_per_image_values():
    pairs = [photo_pair("coffee", 101, 150, seed=s, noise=n) for s, n in ((0, 5), (1, 20), (2, 60))]
    gt = torch.stack([to_tensor(g) for g, _ in pairs])
    pred = torch.stack([to_tensor(p) for _, p in pairs])
    result = score(pred, gt, "rwsr_rgb", scale=2)
    for i, (g, p) in enumerate(pairs):
        ref_psnr, ref_ssim = skimage_scores(g, p, 2)
        assert abs(result["psnr"][i].item() - ref_psnr) < 1e-6
        assert abs(result["ssim"][i].item() - ref_ssim) < 1e-6
    assert result["psnr"][0] > result["psnr"][1] > result["psnr"][2]


def test_float_input_is_scored_as_its_8bit_rounding():
    gt, pred = photo_pair("chelsea", 64, 80)
    jitter = (torch.rand(3, 64, 80, generator=torch.Generator().manual_seed(0)) - 0.5) * 0.9 / 255
    exact = score(to_tensor(pred), to_tensor(gt), "rwsr_rgb", crop_border=0)
    network_output = (to_tensor(pred) + jitter).requires_grad_()
    jittered = score(network_output, to_tensor(gt), "rwsr_rgb", crop_border=0)
    assert torch.equal(exact["psnr"], jittered["psnr"]) and torch.equal(exact["ssim"], jittered["ssim"])
    assert not jittered["psnr"].requires_grad


def test_identical_images_give_infinite_psnr_and_unit_ssim():
    gt, _ = photo_pair("rocket", 40, 40)
    result = score(to_tensor(gt), to_tensor(gt), "rwsr_rgb", crop_border=0)
    assert result["psnr"].item() == float("inf")
    assert abs(result["ssim"].item() - 1.0) < 1e-12


def test_crop_border_defaults_to_the_scale():
    gt, pred = photo_pair("astronaut", 60, 60)
    by_scale = score(to_tensor(pred), to_tensor(gt), "rwsr_rgb", scale=4)
    explicit = score(to_tensor(pred), to_tensor(gt), "rwsr_rgb", crop_border=4)
    uncropped = score(to_tensor(pred), to_tensor(gt), "rwsr_rgb")
    assert torch.equal(by_scale["psnr"], explicit["psnr"])
    assert abs(uncropped["psnr"].item() - skimage_scores(gt, pred, 0)[0]) < 1e-6
    assert get_preset("rwsr_rgb").crop_border is None  # "the scale", resolved per call


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    gt, pred = photo_pair("coffee", 200, 300)
    cpu = score(to_tensor(pred), to_tensor(gt), "rwsr_rgb", crop_border=4)
    gpu = score(to_tensor(pred).cuda(), to_tensor(gt).cuda(), "rwsr_rgb", crop_border=4)
    assert gpu["psnr"].device.type == "cuda"
    for key in ("psnr", "ssim"):
        assert abs(gpu[key].item() - cpu[key].item()) < 1e-9


@pytest.mark.parametrize("preset", ["rwsr_rgb", "basicsr_y"])
def test_splitting_into_bands_and_chunks_changes_nothing(preset, monkeypatch):
    import metrics.presets
    import metrics.ssim

    gt, pred = photo_pair("rocket", 90, 77)
    batch_pred = torch.stack([to_tensor(pred), to_tensor(gt).flip(-1)])
    batch_gt = torch.stack([to_tensor(gt)] * 2)
    whole = score(batch_pred, batch_gt, preset, crop_border=1)
    monkeypatch.setattr(metrics.ssim, "_BAND_ELEMENTS", 700)  # bands of 9 rows (the default takes whole planes)
    monkeypatch.setattr(metrics.presets, "_CHUNK_PIXELS", 10)  # one image per chunk
    split = score(batch_pred, batch_gt, preset, crop_border=1)
    for key in ("psnr", "ssim"):
        assert torch.allclose(whole[key], split[key], rtol=0, atol=1e-12)
    if preset == "rwsr_rgb":
        assert abs(split["ssim"][0].item() - skimage_scores(gt, pred, 1)[1]) < 1e-6


def test_metric_functions_agree_with_score_and_keep_the_thread_setting():
    from metrics.psnr import psnr
    from metrics.ssim import ssim

    torch.set_num_threads(2)
    gt, pred = photo_pair("coffee", 64, 70)
    a, b = to_tensor(pred), to_tensor(gt)
    result = score(a, b, "basicsr_y", crop_border=3)
    assert torch.get_num_threads() == 2
    assert torch.equal(psnr(a, b, crop_border=3, color="y"), result["psnr"])
    ssim_y = ssim(a, b, crop_border=3, color="y", window="gaussian", win_size=11, sigma=1.5,
                                 sample_covariance=False)
    assert torch.equal(ssim_y, result["ssim"])
