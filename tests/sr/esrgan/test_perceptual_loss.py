"""PerceptualLoss: torchvision's VGG19 features before activation under BasicSR's layer names, weighted per layer,
against the torchvision stack itself; weights from the given file or torchvision's cache, and without them one
UserError that says how to provide them (a random VGG never trains)."""
import pytest
import torch
import torch.nn.functional as F
from torchvision.models.vgg import cfgs, make_layers

from deflow.errors import UserError
from sr.esrgan.perceptual_loss import PerceptualLoss, vgg_layer_names

MEAN, STD = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


@pytest.fixture(scope="module")
def vgg19_file(tmp_path_factory):
    """A torchvision VGG19 state_dict file (features only; the values random: what matters is that they are used)."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("vgg") / "vgg19-test.pth"
    torch.save({f"features.{k}": v for k, v in make_layers(cfgs["E"]).state_dict().items()}, path)
    return path


def reference_features(path, x: torch.Tensor, indices) -> list[torch.Tensor]:
    """The outputs of torchvision's VGG19 `features[i]` for [0, 1] RGB input normalised by ImageNet's statistics."""
    features = make_layers(cfgs["E"])
    features.load_state_dict({k.removeprefix("features."): v for k, v in torch.load(path).items()})
    return [features[:i + 1].eval()((x - MEAN) / STD) for i in indices]


def test_layer_names_are_basicsrs():
    names = vgg_layer_names(make_layers(cfgs["E"]))
    assert len(names) == 37 and names[:5] == ["conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1"]
    assert names[34] == "conv5_4" and names[35] == "relu5_4" and names[-1] == "pool5"


def test_loss_is_the_weighted_sum_over_layers_before_activation(vgg19_file):
    torch.manual_seed(1)
    pred, gt = torch.rand(1, 3, 16, 16, requires_grad=True), torch.rand(1, 3, 16, 16)
    weights = {"conv1_2": 0.1, "relu2_1": 1.0, "conv5_4": 1.0}
    loss = PerceptualLoss(layer_weights=weights, perceptual_weight=0.5, vgg_weights=str(vgg19_file))
    value = loss(pred, gt)
    with torch.no_grad():
        pairs = zip(reference_features(vgg19_file, pred, (2, 6, 34)), reference_features(vgg19_file, gt, (2, 6, 34)))
        expected = 0.5 * sum(w * F.l1_loss(p, g) for w, (p, g) in zip(weights.values(), pairs))
        assert (reference_features(vgg19_file, pred, (34,))[0] < 0).any()  # conv5_4 is before its ReLU
    assert value.item() == pytest.approx(expected.item(), rel=1e-5)
    value.backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in loss.parameters())


def test_weights_from_torchvisions_cache(vgg19_file, monkeypatch, tmp_path):
    cache = tmp_path / "torch_home" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    (cache / "vgg19-dcbb9e9d.pth").write_bytes(vgg19_file.read_bytes())
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    pred, gt = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16)
    expected = PerceptualLoss(vgg_weights=str(vgg19_file))(pred, gt)
    assert torch.equal(PerceptualLoss()(pred, gt), expected)


def test_missing_weights_are_one_user_error_that_says_how_to_provide_them(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    for kwargs in ({}, {"vgg_weights": str(tmp_path / "nowhere.pth")}):
        with pytest.raises(UserError) as error:
            PerceptualLoss(**kwargs)
        message = str(error.value)
        assert "\n" not in message and "no VGG19 ImageNet weights" in message
        assert "vgg19-dcbb9e9d.pth" in message and "train.perceptual_opt.vgg_weights" in message
    assert PerceptualLoss(perceptual_weight=0)(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8)).item() == 0.0


def test_bad_files_layers_and_options_are_user_errors(vgg19_file, tmp_path):
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(UserError, match="not a torchvision VGG19 state_dict"):
        PerceptualLoss(vgg_weights=str(tmp_path / "other.pth"))
    with pytest.raises(UserError, match="unknown VGG19 layer 'conv5_5'"):
        PerceptualLoss(layer_weights={"conv5_5": 1.0}, vgg_weights=str(vgg19_file))
    with pytest.raises(UserError, match="criterion: expected one of l1, l2, fro"):
        PerceptualLoss(criterion="cosine", vgg_weights=str(vgg19_file))
