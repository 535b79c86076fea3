"""LPIPS through deflow equals a direct lpips.LPIPS call with the same backbone; without one it is reported."""
import warnings

import lpips
import pytest
import torch
import torchvision

from deflow.errors import UserError
from metrics import BACKBONE_ENV, load_lpips, score
from metrics.lpips_metric import lpips_distance
from metrics.prepare import lpips_input
from tests.metrics.photos import photo_pair, to_tensor


@pytest.fixture(scope="module")
def reference(alexnet_backbone):
    """lpips.LPIPS with its shipped v0.1 linear layers and the test backbone copied layer by layer."""
    with warnings.catch_warnings():  # torchvision's notes on lpips' deprecated `pretrained=` argument
        warnings.simplefilter("ignore", UserWarning)
        model = lpips.LPIPS(pretrained=True, net="alex", version="0.1", pnet_rand=True, verbose=False)
    alexnet = torchvision.models.alexnet(weights=None)
    alexnet.load_state_dict(torch.load(alexnet_backbone, weights_only=True))
    for stage in model.net.children():
        for index, layer in stage.named_children():
            layer.load_state_dict(alexnet.features[int(index)].state_dict())
    return model.eval()


@pytest.fixture(scope="module")
def deflow_lpips(alexnet_backbone):
    return load_lpips("alex", backbone=alexnet_backbone)


@pytest.mark.parametrize("height,width", [(64, 64), (300, 411)])
def test_lpips_equals_direct_lpips_call(deflow_lpips, reference, height, width):
    gt, pred = photo_pair("astronaut", height, width, noise=40)
    a, b = to_tensor(pred)[None], to_tensor(gt)[None]
    with torch.no_grad():
        expected = reference(a, b, normalize=True).flatten()
    value = deflow_lpips(a, b)
    assert value.shape == (1,) and value.dtype == torch.float64
    assert abs(value.item() - expected.item()) < 1e-6
    assert value.item() > 0


def test_score_feeds_lpips_the_cropped_8bit_image(deflow_lpips, reference):
    gt, pred = photo_pair("coffee", 120, 160, noise=40)
    a, b = to_tensor(pred), to_tensor(gt)
    result = score(a, b, "rwsr_rgb", scale=4, lpips=deflow_lpips)
    with torch.no_grad():
        expected = reference(a[None, :, 4:-4, 4:-4], b[None, :, 4:-4, 4:-4], normalize=True).item()
    assert abs(result["lpips"].item() - expected) < 1e-6
    assert torch.equal(lpips_input(a[None], 4), a[None, :, 4:-4, 4:-4])


def test_lpips_distance_and_env_var_find_the_same_backbone(alexnet_backbone, deflow_lpips, monkeypatch):
    monkeypatch.setenv(BACKBONE_ENV, str(alexnet_backbone))
    gt, pred = photo_pair("chelsea", 70, 90)
    a, b = to_tensor(pred), to_tensor(gt)
    assert load_lpips("alex").backbone_path == alexnet_backbone
    assert abs(lpips_distance(a, b).item() - deflow_lpips(a[None], b[None]).item()) < 1e-6


def test_missing_backbone_is_reported_not_a_crash(no_cached_backbone):
    metric = load_lpips("alex")
    assert not metric.available
    assert "alexnet-owt-7be5be79.pth" in metric.reason and BACKBONE_ENV in metric.reason
    gt, pred = photo_pair("rocket", 40, 40)
    result = score(to_tensor(pred), to_tensor(gt), "rwsr_rgb", crop_border=0, lpips=metric)
    assert set(result) == {"psnr", "ssim"}
    with pytest.raises(UserError, match="LPIPS unavailable"):
        metric(to_tensor(pred)[None], to_tensor(gt)[None])


def test_require_turns_a_missing_backbone_into_a_user_error(no_cached_backbone, tmp_path):
    with pytest.raises(UserError, match="LPIPS unavailable: .*alexnet-owt"):
        load_lpips("alex", require=True)
    with pytest.raises(UserError, match="does not exist"):
        load_lpips("alex", backbone=tmp_path / "nowhere.pth", require=True)


def test_a_file_of_the_wrong_network_is_refused(tmp_path):
    path = tmp_path / "vgg.pth"
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3), "features.0.bias": torch.zeros(64)}, path)
    metric = load_lpips("alex", backbone=path)
    assert not metric.available and "features.0.weight" in metric.reason
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    assert not load_lpips("alex", backbone=garbage).available


def test_lpips_network_must_match_the_preset(deflow_lpips):
    gt, pred = photo_pair("rocket", 40, 40)
    with pytest.raises(UserError, match="LPIPS-vgg"):
        score(to_tensor(pred), to_tensor(gt), "basicsr_y", crop_border=0, lpips=deflow_lpips)
