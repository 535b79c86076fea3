"""Networks of the multi-frame family: the classical fusions as parameter-free modules (so a classical pipeline is a
`network_g` section and needs no checkpoint), and the hybrid's learned refiner.

A fusion's forward takes a batch of bursts (N, T, 3, h, w) and returns {"image": (N, 3, H, W), "count": (N, 1, H, W)
samples per HR pixel, "confidence": (N, T) registration confidence, "keep": (N, T) frames used}.
"""
import torch
from torch import nn

from deflow.archs.rrdbnet import RRDBNet
from deflow.registry import ARCHS
from deflow.tiling import pad_to_multiple
from degradations.resize import imresize
from sr.multiframe.fusion import back_projection, btv_l1, shift_and_add
from sr.multiframe.registration import keep_mask, register_burst


class BurstFusion(nn.Module):
    """Register every burst, drop outlier frames, fuse the rest (`fuse`, per subclass)."""

    def __init__(self, scale: int = 2, registration: str = "ecc", min_confidence: float = 0.5):
        super().__init__()
        self.scale, self.registration, self.min_confidence = scale, registration, min_confidence

    def fuse(self, frames: torch.Tensor, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def settings(self) -> dict:
        """Everything that determines the output besides the input: the type and every option, as set now."""
        options = {k: v for k, v in vars(self).items()
                   if k != "training" and not k.startswith("_") and isinstance(v, (bool, int, float, str))}
        return {"type": type(self).__name__, **options}

    def forward(self, bursts: torch.Tensor) -> dict:
        out = {"image": [], "count": [], "confidence": [], "keep": []}
        for frames in bursts:
            reg = register_burst(frames, self.registration)
            keep = keep_mask(reg.confidence, self.min_confidence)
            positions = reg.positions.to(frames.device)
            image, count = self.fuse(frames[keep], positions[keep])
            for key, value in zip(out, (image, count, reg.confidence.to(frames.device), keep.to(frames.device))):
                out[key].append(value)
        return {key: torch.stack(values) for key, values in out.items()}


@ARCHS.register()
class ShiftAndAdd(BurstFusion):
    """Shift-and-add: each sample on its nearest HR pixel, the median (or mean) per pixel, holes filled.

    Args:
        scale: HR : LR ratio.
        registration: phase, ecc or dis (sr/multiframe/registration.py).
        min_confidence: frames below this fraction of the best frame's registration confidence are dropped.
        reducer: median (robust, Farsiu 2004) or mean.
    """

    def __init__(self, scale: int = 2, registration: str = "ecc", min_confidence: float = 0.5, reducer: str = "median"):
        super().__init__(scale, registration, min_confidence)
        if reducer not in ("median", "mean"):
            from deflow.errors import UserError
            raise UserError(f"network_g.reducer: median or mean, got {reducer!r}")
        self.reducer = reducer

    def fuse(self, frames, positions):
        return shift_and_add(frames, positions, self.scale, self.reducer)


@ARCHS.register()
class BackProjection(BurstFusion):
    """Iterative back-projection (Irani & Peleg 1991) from median shift-and-add.

    Args:
        scale: HR : LR ratio.
        registration: phase, ecc or dis.
        min_confidence: frames below this fraction of the best frame's registration confidence are dropped.
        psf_sigma: std of the assumed Gaussian PSF, HR pixels (besides the pixel's area integration).
        iterations: back-projection steps.
        step: step size (1 = a full residual per step).
    """

    def __init__(self, scale: int = 2, registration: str = "ecc", min_confidence: float = 0.5, psf_sigma: float = 0.5,
                 iterations: int = 5, step: float = 0.3):
        super().__init__(scale, registration, min_confidence)
        self.psf_sigma, self.iterations, self.step = psf_sigma, iterations, step

    def fuse(self, frames, positions):
        start, count = shift_and_add(frames, positions, self.scale)
        return back_projection(frames, positions, self.scale, self.psf_sigma, self.iterations, self.step,
                               start).clamp(0, 1), count


@ARCHS.register()
class BTVL1(BurstFusion):
    """Farsiu et al. 2004's robust L1 data term + bilateral TV, by steepest descent from median shift-and-add.

    Args:
        scale: HR : LR ratio.
        registration: phase, ecc or dis.
        min_confidence: frames below this fraction of the best frame's registration confidence are dropped.
        psf_sigma: std of the assumed Gaussian PSF, HR pixels (besides the pixel's area integration).
        iterations: descent steps.
        step: first step size beta, image units (decays to a tenth).
        lam: weight lambda of the bilateral TV.
        radius: P, the largest shift of the bilateral TV.
        alpha: decay alpha of the bilateral TV weights.
    """

    def __init__(self, scale: int = 2, registration: str = "ecc", min_confidence: float = 0.5, psf_sigma: float = 0.5,
                 iterations: int = 50, step: float = 0.01, lam: float = 0.1, radius: int = 2, alpha: float = 0.7):
        super().__init__(scale, registration, min_confidence)
        self.psf_sigma, self.iterations, self.step = psf_sigma, iterations, step
        self.lam, self.radius, self.alpha = lam, radius, alpha

    def fuse(self, frames, positions):
        start, count = shift_and_add(frames, positions, self.scale)
        return btv_l1(frames, positions, self.scale, self.psf_sigma, self.iterations, self.step, self.lam,
                      self.radius, self.alpha, start).clamp(0, 1), count


@ARCHS.register()
class BurstRefiner(nn.Module):
    """The hybrid's learned stage: a residual RRDBNet (x1, working at a quarter of the HR size through pixel
    unshuffle) on [fused image, confidence, bicubic reference frame], 7 channels at HR size; out = fused + net(.).
    The confidence channel is the sample count per HR pixel divided by the frames per sub-pixel phase.

    Args:
        scale: HR : LR ratio (the reference frame is upsampled by it, MATLAB bicubic).
        num_feat: trunk width.
        num_block: number of RRDBs.
        num_grow_ch: growth channels inside a dense block.
        use_confidence: feed the confidence map (false: a zero channel, for the ablation).
    """

    def __init__(self, scale: int = 2, num_feat: int = 32, num_block: int = 2, num_grow_ch: int = 16,
                 use_confidence: bool = True):
        super().__init__()
        self.scale, self.use_confidence = scale, use_confidence
        self.body = RRDBNet(num_in_ch=7, num_out_ch=3, scale=1, num_feat=num_feat, num_block=num_block,
                            num_grow_ch=num_grow_ch)
        nn.init.zeros_(self.body.conv_last.weight)  # starts as the classical fusion
        nn.init.zeros_(self.body.conv_last.bias)

    def forward(self, fused: torch.Tensor, confidence: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """fused (N, 3, H, W), confidence (N, 1, H, W), reference (N, 3, H / scale, W / scale) -> (N, 3, H, W)."""
        if not self.use_confidence:
            confidence = torch.zeros_like(confidence)
        reference_up = imresize(reference, size=fused.shape[-2:]).clamp(0, 1)
        x = torch.cat([fused, confidence, reference_up], dim=1)
        h, w = x.shape[-2:]
        x, _, _ = pad_to_multiple(x, 4)
        return fused + self.body(x)[..., :h, :w]
