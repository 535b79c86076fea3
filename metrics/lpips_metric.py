"""LPIPS v0.1 (Zhang et al. 2018) through the `lpips` package, with the backbone found offline or not at all.

The linear calibration layers ship inside the `lpips` package. The backbone (AlexNet or VGG16 ImageNet
weights) is a torchvision state_dict file, looked up in this order:
  1. the `backbone` path given (config key / CLI flag);
  2. the file named by the environment variable DEFLOW_LPIPS_BACKBONE;
  3. torchvision's own cache, <torch hub dir>/checkpoints/<torchvision file name>, e.g. alexnet-owt-7be5be79.pth.
Nothing is downloaded: `lpips.LPIPS` is built with a random backbone (pnet_rand=True) and the file is then
loaded into it, all layers or none. Without a usable file the metric is unavailable, with the reason;
a random backbone never produces a number.
"""
import functools
import os
import warnings
from pathlib import Path

import torch

from deflow import checkpoint
from deflow.errors import UserError
from metrics.prepare import check_pair, lpips_input

BACKBONE_ENV = "DEFLOW_LPIPS_BACKBONE"
# lpips net name -> torchvision weights enum entry whose file the hub cache holds.
TORCHVISION_WEIGHTS = {
    "alex": "AlexNet_Weights.IMAGENET1K_V1",
    "vgg": "VGG16_Weights.IMAGENET1K_V1",
    "squeeze": "SqueezeNet1_1_Weights.IMAGENET1K_V1",
}


def torchvision_cache_file(weights: str) -> Path:
    """Where torchvision keeps the file of `weights` (an enum entry such as "VGG19_Weights.IMAGENET1K_V1") once
    downloaded on a connected machine."""
    from torchvision.models import get_weight

    return Path(torch.hub.get_dir()) / "checkpoints" / Path(get_weight(weights).url).name


def find_backbone(net: str, backbone: str | Path | None = None) -> tuple[Path | None, str]:
    """(path, "") of the backbone file to use, or (None, reason) when there is none."""
    if net not in TORCHVISION_WEIGHTS:
        raise UserError(f"unknown LPIPS network {net!r}; known: {', '.join(TORCHVISION_WEIGHTS)}")
    if backbone is not None:
        path, origin = Path(backbone), "the backbone path given"
    elif os.environ.get(BACKBONE_ENV):
        path, origin = Path(os.environ[BACKBONE_ENV]), f"${BACKBONE_ENV}"
    else:
        path = torchvision_cache_file(TORCHVISION_WEIGHTS[net])
        if path.is_file():
            return path, ""
        return None, (f"no {net} backbone weights: {path} is missing (this machine cannot download them); "
                      f"copy that file there or set {BACKBONE_ENV} to a torchvision state_dict file")
    if not path.is_file():
        return None, f"{path} ({origin}) does not exist"
    return path, ""


def _backbone_state(model, path: Path) -> dict:
    """The file's torchvision `features.<i>.*` tensors renamed to lpips' `slice<k>.<i>.*`; every one is required."""
    state = checkpoint.load(path)
    state = state.get("state_dict", state) if isinstance(state, dict) else state
    if not isinstance(state, dict):
        raise ValueError("not a state_dict")
    renamed = {}
    for key, target in model.net.state_dict().items():
        source = "features." + key.split(".", 1)[1]
        if source not in state:
            raise ValueError(f"not a torchvision {model.pnet_type} state_dict (no {source!r})")
        if state[source].shape != target.shape:
            raise ValueError(f"{source} has shape {tuple(state[source].shape)}, expected {tuple(target.shape)}")
        renamed[key] = state[source]
    return renamed


class LPIPSMetric:
    """LPIPS v0.1 of one backbone, or the reason it is unavailable; built by `load_lpips`.

    Call it with float RGB [0, 1] tensors (N, 3, H, W), same shape, any size: the network runs once on
    the whole image (LPIPS averages spatially) and returns (N,) float64 on the input's device.
    """

    def __init__(self, net: str, model: torch.nn.Module | None = None, reason: str = "",
                 backbone_path: Path | None = None):
        self.net = net
        self.model = model
        self.reason = reason
        self.backbone_path = backbone_path

    @property
    def available(self) -> bool:
        return self.model is not None

    def __repr__(self) -> str:
        state = f"backbone {self.backbone_path}" if self.available else f"unavailable: {self.reason}"
        return f"LPIPSMetric({self.net} v0.1, {state})"

    @torch.no_grad()
    def __call__(self, pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        if not self.available:
            raise UserError(f"LPIPS unavailable: {self.reason}")
        device = pred.device
        if next(self.model.parameters()).device != device:
            self.model.to(device)
        value = self.model(pred.float(), gt.float().to(device), normalize=True)
        return value.flatten().double()


def load_lpips(net: str = "alex", backbone: str | Path | None = None, require: bool = False,
               device: str | torch.device = "cpu") -> LPIPSMetric:
    """LPIPS v0.1 with `net` ("alex", "vgg", "squeeze") and the backbone found as the module docstring says.

    Returns an unavailable LPIPSMetric (see `.reason`) when no usable backbone is found, or a UserError
    instead when `require` is true.
    """
    metric = _build(net, backbone)
    if not metric.available and require:
        raise UserError(f"LPIPS unavailable: {metric.reason}")
    if metric.available:
        metric.model.to(device)
    return metric


def _build(net: str, backbone: str | Path | None) -> LPIPSMetric:
    path, reason = find_backbone(net, backbone)
    if path is None:
        return LPIPSMetric(net, reason=reason)
    import lpips

    linear_weights = Path(lpips.__file__).parent / "weights" / "v0.1" / f"{net}.pth"
    if not linear_weights.is_file():
        return LPIPSMetric(net, reason=f"the lpips package lacks its calibration weights {linear_weights}")
    with warnings.catch_warnings():  # torchvision's deprecation notes about lpips' `pretrained=` argument
        warnings.simplefilter("ignore", UserWarning)
        model = lpips.LPIPS(net=net, version="0.1", pretrained=True, pnet_rand=True, verbose=False)
    try:
        model.net.load_state_dict(_backbone_state(model, path))
    except Exception as exc:  # any unreadable or mismatched file: report it, never score with random weights
        return LPIPSMetric(net, reason=str(exc) if isinstance(exc, UserError) else f"{path}: {exc}")
    return LPIPSMetric(net, model=model.eval(), backbone_path=path)


@functools.lru_cache(maxsize=4)
def _cached(net: str, backbone: Path) -> LPIPSMetric:
    return _build(net, backbone)


def lpips_distance(pred: torch.Tensor, gt: torch.Tensor, crop_border: int = 0, quantize: bool = True,
                   net: str = "alex", backbone: str | Path | None = None) -> torch.Tensor:
    """LPIPS of float RGB [0, 1] images (3, H, W) or (N, 3, H, W) -> (N,) float64 on their device.

    The network is built once per backbone file and kept; no backbone found is a UserError.
    `metrics.score` with a `load_lpips` metric is the way to score several metrics at once.
    """
    path, reason = find_backbone(net, backbone)
    if path is None:
        raise UserError(f"LPIPS unavailable: {reason}")
    pred, gt = check_pair(pred, gt)
    return _cached(net, path)(lpips_input(pred, crop_border, quantize), lpips_input(gt, crop_border, quantize))
