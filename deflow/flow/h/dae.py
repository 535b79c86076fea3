"""The learned h: a small denoising autoencoder, trained on both domains and then frozen, before the bicubic
downsampling.

Training is an ordinary SR run at scale 1 through the one trainer loop: `model_type: SRModel`, `scale: 1`,
`network_g: {type: DenoisingAutoencoder}`, on pairs whose GT are the images of both domains and whose LQ are the same
images with synthetic noise (`scripts/degrade.py --pipeline white_noise --scale 1`); confs/cpu/dae-h.yml. Its
checkpoint (or exported .safetensors) is then `network_g.h: {type: dae, weights: FILE}` of the DeFlow config.

Why an autoencoder rather than a fixed filter: its bottleneck (a quarter of the side, `width` channels) keeps only
what it can rebuild the images of both domains from, so what it has learned to treat as noise (the synthetic noise
and, where it looks alike, the real degradation) is dropped by the same function in both domains; a Gaussian or
median filter removes a fixed band instead (Vincent et al., "Extracting and composing robust features with
denoising autoencoders", ICML 2008).
"""
from pathlib import Path

import torch
from torch import nn

from deflow.errors import UserError
from deflow.flow.h.noise import bicubic_down
from deflow.registry import ARCHS, H_FUNCTIONS
from degradations.noise import gaussian_noise


@ARCHS.register()
class DenoisingAutoencoder(nn.Module):
    """(B, 3, H, W) -> (B, 3, H, W), H and W multiples of 4: two stride-2 convs down to a (width, H / 4, W / 4)
    code, two nearest-neighbour upsamplings with convs back; no skip connection, so everything passes the
    bottleneck.

    Args:
        in_channels: image channels (3).
        width: channels of every hidden layer and of the code (32).
    """
    MINIMUMS = {"in_channels": 1, "width": 1}

    def __init__(self, in_channels: int = 3, width: int = 32):
        super().__init__()
        act = nn.LeakyReLU(0.2)
        self.encode = nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1), act,
                                    nn.Conv2d(width, width, 3, stride=2, padding=1), act,
                                    nn.Conv2d(width, width, 3, stride=2, padding=1), act)
        self.decode = nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(width, width, 3, padding=1), act,
                                    nn.Upsample(scale_factor=2), nn.Conv2d(width, width, 3, padding=1), act,
                                    nn.Conv2d(width, in_channels, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


@H_FUNCTIONS.register("dae")
class DAEDenoise:
    """Removes what a denoising autoencoder trained on both domains treats as noise, keeping what it rebuilds:
    h(x) = bicubic_down(DAE(x), factor) + N(0, noise_std^2), the DAE frozen.

    Args:
        factor: downsampling factor (the network's scale).
        weights: the trained DAE: a deflow checkpoint or exported .safetensors file of an SRModel at scale 1.
        noise_std: std of perturb's Gaussian noise in [0, 1] units (0.01, as the filter h's).
        device: where the DAE runs ("auto": CUDA when present).
    """

    def __init__(self, factor: int, weights: str, noise_std: float = 0.01, device: str = "auto"):
        from deflow.models.loading import load_for_inference

        if not Path(weights).is_file():
            raise UserError(f"network_g.h.weights: {weights}: file not found; train the DAE first (confs/cpu/"
                            "dae-h.yml) and give its checkpoint")
        self.factor, self.noise_std = factor, noise_std
        self.dae = load_for_inference(weights, device=device)
        if self.dae.scale != 1:
            raise UserError(f"network_g.h.weights: {weights} is a x{self.dae.scale} model; the dae h needs one "
                            "trained at scale 1")

    def downsample(self, x: torch.Tensor) -> torch.Tensor:
        batch = x.reshape(-1, *x.shape[-3:])
        cleaned = self.dae.infer(batch.to(self.dae.device)).to(x.device, x.dtype)
        return bicubic_down(cleaned.reshape(x.shape), self.factor)

    def perturb(self, lr: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return gaussian_noise(lr, self.noise_std, generator=generator)
