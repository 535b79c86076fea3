"""Perceptual loss (Johnson et al. 2016) on torchvision's ImageNet VGG19, features taken before the activation as
ESRGAN does (Wang et al. 2018, section 3.3: "conv5_4", before ReLU), with BasicSR's layer names and options.

The weights are never downloaded and a random VGG never trains anything: they come from `vgg_weights` or from
torchvision's cache (<torch hub dir>/checkpoints/vgg19-dcbb9e9d.pth), else construction stops with a UserError.
"""
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from deflow import checkpoint
from deflow.errors import UserError
from deflow.registry import LOSSES
from metrics.lpips_metric import torchvision_cache_file

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
VGG19_WEIGHTS = "VGG19_Weights.IMAGENET1K_V1"  # torchvision's ImageNet VGG19, the file ESRGAN's loss needs
CRITERIA = {
    "l1": F.l1_loss,
    "l2": F.mse_loss,
    "fro": lambda x, y: torch.norm(x - y, p="fro"),
}


def vgg_layer_names(features: nn.Sequential) -> list[str]:
    """BasicSR's names of a torchvision VGG `features` stack: conv<block>_<i>, relu<block>_<i>, pool<block>."""
    names, block, index = [], 1, 1
    for module in features:
        if isinstance(module, nn.Conv2d):
            names.append(f"conv{block}_{index}")
        elif isinstance(module, nn.ReLU):
            names.append(f"relu{block}_{index}")
            index += 1
        else:
            names.append(f"pool{block}")
            block, index = block + 1, 1
    return names


def load_vgg19_features(path: str | None) -> nn.Sequential:
    """torchvision's VGG19 `features` with the ImageNet weights of `path` (or of torchvision's cache), frozen."""
    from torchvision.models.vgg import cfgs, make_layers

    cached = torchvision_cache_file(VGG19_WEIGHTS)
    file = Path(path) if path else cached
    if not file.is_file():
        raise UserError(f"perceptual loss: no VGG19 ImageNet weights at {file} (nothing is downloaded); copy "
                        f"torchvision's {cached.name} there or set train.perceptual_opt.vgg_weights: FILE")
    state = checkpoint.load(file)
    features = make_layers(cfgs["E"])
    try:
        features.load_state_dict({k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")})
    except RuntimeError:
        raise UserError(f"{file}: not a torchvision VGG19 state_dict (features.* keys); use {cached.name}") from None
    for module in features:
        if isinstance(module, nn.ReLU):
            module.inplace = False  # a conv's output must survive the ReLU after it
    return features.eval().requires_grad_(False)


@LOSSES.register()
class PerceptualLoss(nn.Module):
    """perceptual_weight * sum over layers of weight * criterion(VGG19_layer(pred), VGG19_layer(gt)).

    Args:
        layer_weights: {BasicSR layer name: weight}, e.g. {conv5_4: 1.0} (ESRGAN) or Real-ESRGAN's {conv1_2: 0.1,
            conv2_2: 0.1, conv3_4: 1, conv4_4: 1, conv5_4: 1}; convN_M is before its ReLU.
        vgg_type: vgg19 (the one ESRGAN uses).
        use_input_norm: normalise [0, 1] RGB by ImageNet's mean and std first.
        perceptual_weight: multiplier of the loss; 0 builds no network and gives 0.
        criterion: l1, l2 or fro (Frobenius norm), as in BasicSR.
        vgg_weights: torchvision VGG19 state_dict file (default: torchvision's cache, vgg19-dcbb9e9d.pth).
    """

    def __init__(self, layer_weights: dict | None = None, vgg_type: str = "vgg19", use_input_norm: bool = True,
                 perceptual_weight: float = 1.0, criterion: str = "l1", vgg_weights: str | None = None):
        super().__init__()
        if vgg_type != "vgg19":
            raise UserError(f"train.perceptual_opt.vgg_type: only vgg19 is available, got {vgg_type!r}")
        if criterion not in CRITERIA:
            raise UserError(f"train.perceptual_opt.criterion: expected one of {', '.join(CRITERIA)}, got {criterion!r}")
        self.layer_weights = dict(layer_weights or {"conv5_4": 1.0})
        self.use_input_norm, self.perceptual_weight, self.criterion = use_input_norm, perceptual_weight, CRITERIA[criterion]
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.features = None
        if perceptual_weight > 0:
            features = load_vgg19_features(vgg_weights)
            names = vgg_layer_names(features)
            unknown = sorted(set(self.layer_weights) - set(names))
            if unknown:
                raise UserError(f"train.perceptual_opt.layer_weights: unknown VGG19 layer {unknown[0]!r}; "
                                f"layers are named like {', '.join(names[:4])}, ..., conv5_4")
            self.index = {names.index(name): name for name in self.layer_weights}
            self.features = features[:max(self.index) + 1]

    def layer_outputs(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """{layer name: (N, C, h, w) features} of float RGB [0, 1] images (N, 3, H, W)."""
        if self.use_input_norm:
            x = (x - self.mean) / self.std
        outputs = {}
        for i, module in enumerate(self.features):
            x = module(x)
            if i in self.index:
                outputs[self.index[i]] = x
        return outputs

    def forward(self, pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        if self.features is None:
            return pred.new_zeros(())
        pred_features = self.layer_outputs(pred)
        with torch.no_grad():
            gt_features = self.layer_outputs(gt)
        loss = sum(weight * self.criterion(pred_features[name], gt_features[name])
                   for name, weight in self.layer_weights.items())
        return self.perceptual_weight * loss
