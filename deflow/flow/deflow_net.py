"""DeFlowNet: conditioning encoder + conditional flow + one domain shift per latent level."""
import math
from typing import NamedTuple

import torch
from torch import nn

from deflow.errors import UserError
from deflow.flow.content_shift import ContentShift
from deflow.flow.domain_filter import DomainFilter
from deflow.flow.encoder import ConditionEncoder
from deflow.flow.flownet import ConditionalFlowNet
from deflow.flow.h import build_h
from deflow.flow.shift import DomainShift
from deflow.registry import ARCHS


def full_precision(x: torch.Tensor) -> torch.autocast:
    """Autocast off on x's device: the flow, its shifts and its log-densities run in the images' dtype (fp32)
    under any train.amp, since a log-determinant sums the log-scales of every dimension and half precision loses
    them. Only the conditioning encoder (DeFlowNet.condition) runs under the caller's autocast."""
    return torch.autocast(x.device.type, enabled=False)


class NLL(NamedTuple):
    bits_per_dim: torch.Tensor  # (B,) -log2 P(x) / (C H W), P the probability of x's 1/quant bin
    bits_per_pixel: torch.Tensor  # (B,) the official figure, see DeFlowNet.nll


@ARCHS.register()
class DeFlowNet(nn.Module):
    """DeFlow (Wolf et al., CVPR 2021): one conditional flow for clean (label 0) and degraded (label 1)
    images whose latents differ by a learned Gaussian shift per level (official code:
    codes/models/modules/RRDBGlowNet_arch.py).

    The flow input is an image in [0, 1] (B, 3, H, W); the conditioning image `lq` is the same content
    downsampled by `scale` (B, 3, H / scale, W / scale), made by the data pipeline (see deflow.flow.h).
    H and W must be multiples of 2^L. Every `generator` (for the noise of h, dequantisation and sampling)
    must live on the model's device; None uses the global RNG.

    Args (the `network_g` keys):
        in_channels: image channels (3).
        L: flow levels; level l works at 1/2^l of the input side (3).
        K: conditional flow steps per level (16).
        hidden_channels: width of the coupling and injector nets (128 AIM, 64 NTIRE/DPED).
        n_transition: unconditional ActNorm + 1x1-conv steps after each squeeze (2).
        split_levels: 1-based levels that end by factoring out half their channels; [1] is the official net.
        coupling_eps: lower bound of the coupling scales sigmoid(raw + 2) + eps (1e-3).
        cond_nf, cond_nb, cond_gc: width, number of RRDB blocks and growth channels of the
            conditioning encoder (64, 23, 32); the conditioning maps have 5 * cond_nf channels.
        scale: flow input side / conditioning image side, a power of two (8 AIM, 4 NTIRE/DPED).
        std_init_shift: every level's shift starts with A = eye * value; 0 (the released configs) never
            learns A (0.01).
        quant: dequantisation bins, x + (U(0, 1) - 0.5) / quant (32).
        h: the domain-invariant function, {type: a registered h, ...its keys}; its downsampling factor is
            `scale` (default {type: bicubic_noise, noise_std: 0.03}, DeFlow's h).
        lr_noise_std: the older spelling of h.noise_std of the default h; set at most one of h and lr_noise_std.
        content_shift: each level's shift follows the conditioning (deflow.flow.content_shift): mean and per-channel
            scale of u predicted per pixel, starting as DeFlow's shift (False: DeFlow's shift).
        latent_scale: a degraded latent is D z + u with a learned per-channel D at each level (deflow.flow.shift),
            so the degraded density can hold less detail than the clean one (False: z + u, DeFlow).
        domain_filter: a degraded image is K x', x' what the flow models and K a learned per-channel blur and detail
            gain (deflow.flow.domain_filter), so the degraded domain can keep less detail than the clean one (False:
            no K, DeFlow).
        domain_split_prior: the degraded domain corrects the split priors with a zero-initialised conv of its own
            (deflow.flow.split; False: one prior for both domains, as DeFlow).
        pretrain_encoder: path of ESRGAN RRDB weights for the encoder, or None to start it at random.
    """
    MINIMUMS = {"in_channels": 1, "L": 1, "K": 1, "hidden_channels": 1, "n_transition": 0, "coupling_eps": 0,
                "cond_nf": 1, "cond_nb": 1, "cond_gc": 1, "std_init_shift": 0, "quant": 1, "lr_noise_std": 0}

    def __init__(self, in_channels: int = 3, L: int = 3, K: int = 16, hidden_channels: int = 64,
                 n_transition: int = 2, split_levels=(1,), coupling_eps: float = 1e-3, cond_nf: int = 64,
                 cond_nb: int = 23, cond_gc: int = 32, scale: int = 4, std_init_shift: float = 0.01,
                 quant: int = 32, h: dict | None = None, lr_noise_std: float | None = None,
                 content_shift: bool = False, domain_split_prior: bool = False, latent_scale: bool = False,
                 domain_filter: bool = False, pretrain_encoder: str | None = None):
        super().__init__()
        if h is None:
            h = {"type": "bicubic_noise", "noise_std": 0.03 if lr_noise_std is None else lr_noise_std}
        elif lr_noise_std is not None:
            raise UserError("network_g.lr_noise_std and network_g.h are both set; set the noise in network_g.h "
                            "(network_g.h.noise_std for bicubic_noise) and remove lr_noise_std")
        self.scale = scale
        self.quant = quant
        self.h = build_h(h, scale)
        self.encoder = ConditionEncoder(scale, L, cond_nf, cond_nb, cond_gc, in_channels)
        if pretrain_encoder:
            self.encoder.load_pretrained(pretrain_encoder)
        self.flow = ConditionalFlowNet(in_channels, L, K, hidden_channels, n_transition, split_levels,
                                       coupling_eps, self.encoder.out_channels, domain_split_prior)
        def shift(channels: int) -> DomainShift:
            if content_shift:
                return ContentShift(channels, self.encoder.out_channels, std_init_shift, latent_scale)
            return DomainShift(channels, std_init_shift, latent_scale)
        self.shifts = nn.ModuleDict({str(level): shift(c) for level, c in self.flow.latent_channels.items()})
        self.domain_filter = DomainFilter(in_channels) if domain_filter else None

    def _check_sizes(self, lq: torch.Tensor, image: torch.Tensor | None = None) -> tuple[int, int]:
        height, width = lq.shape[2] * self.scale, lq.shape[3] * self.scale
        if image is not None and tuple(image.shape[2:]) != (height, width):
            raise UserError(f"image {tuple(image.shape[2:])} is not {self.scale}x its conditioning image "
                            f"{tuple(lq.shape[2:])}")
        multiple = 2 ** self.flow.L
        if height % multiple or width % multiple:
            raise UserError(f"the flow needs sides that are multiples of {multiple}, got {(height, width)}; "
                            f"crop images to a multiple of lcm({multiple}, {self.scale})")
        return height, width

    def condition(self, lq: torch.Tensor, generator: torch.Generator | None = None) -> list[torch.Tensor]:
        """The per-level conditioning maps of h(lq), in lq's dtype whatever autocast made them: one noise draw, to
        reuse for encode and decode."""
        return [c.to(lq.dtype) for c in self.encoder(self.h.perturb(lq, generator))]

    def _dequantize(self, x, generator):
        noise = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        return x + (noise - 0.5) / self.quant

    def encode(self, x, conds, label=None):
        return self.flow.encode(x, conds, label)

    def decode(self, latents, conds, generator: torch.Generator | None = None, label=None):
        return self.flow.decode(latents, conds, generator, label)

    def encode_image(self, x: torch.Tensor, lq: torch.Tensor, dequant_noise: bool = True,
                     generator: torch.Generator | None = None, label=None):
        """x (B, C, H, W) of domain `label` -> ({level: latent}, logdet (B,)) under h(lq), dequantised as in
        training (`label` matters only to a domain split prior)."""
        latents, logdet, _ = self._encode_image(x, lq, dequant_noise, generator, label)
        return latents, logdet

    def _encode_image(self, x, lq, dequant_noise, generator, label):
        self._check_sizes(lq, x)
        x = self._dequantize(x, generator) if dequant_noise else x
        conds = self.condition(lq, generator)
        with full_precision(x):
            x, filter_logdet = self._unfilter(x, label)
            latents, logdet = self.encode(x, conds, label)
        return latents, logdet + filter_logdet, conds

    def _unfilter(self, x: torch.Tensor, label) -> tuple[torch.Tensor, torch.Tensor | float]:
        """The degraded images of x (label 1) through K^-1 (domain_filter), with log |det K^-1| per image."""
        if self.domain_filter is None:
            return x, 0.0
        degraded = torch.as_tensor(label, device=x.device).expand(x.shape[0]).bool()
        x = torch.where(degraded.view(-1, 1, 1, 1), self.domain_filter.unfilter(x), x)
        return x, (-degraded.double() * self.domain_filter.log_det(*x.shape[-2:])).to(x.dtype)

    def _filter(self, x: torch.Tensor, label) -> torch.Tensor:
        """The images of x decoded as degraded (label 1) through K (domain_filter)."""
        if self.domain_filter is None:
            return x
        degraded = torch.as_tensor(label, device=x.device).expand(x.shape[0]).bool()
        return torch.where(degraded.view(-1, 1, 1, 1), self.domain_filter.filter(x), x)

    def nll(self, gt: torch.Tensor, lq: torch.Tensor, label, dequant_noise: bool = True,
            generator: torch.Generator | None = None) -> NLL:
        """Negative log-likelihood of gt (B, C, H, W) in the domain `label` (0 clean, 1 degraded; int or (B,)).

        bits_per_dim = -(log p(x) + log|det J| - D ln quant) / (D ln 2), D = C H W: the probability of the
        1/quant bin around x (the D ln quant term is applied with or without dequantisation noise).
        bits_per_pixel is DeFlow's logged `nll`: the same sum with H W in place of D in both places (its
        dequantisation constant counts pixels, not dimensions), i.e. 3 bits_per_dim - 2 log2(quant) for RGB.
        """
        latents, logdet, conds = self._encode_image(gt, lq, dequant_noise, generator, label)
        with full_precision(gt):
            log_p = logdet + sum(self.shifts[str(level)].log_prob(z, label, conds[level - 1])
                                 for level, z in latents.items())
        dims, pixels = gt[0].numel(), gt.shape[2] * gt.shape[3]
        log_q = math.log(self.quant)
        return NLL(-(log_p - dims * log_q) / (dims * math.log(2)), -(log_p - pixels * log_q) / (pixels * math.log(2)))

    def forward(self, gt: torch.Tensor, lq: torch.Tensor, label, dequant_noise: bool = True,
                generator: torch.Generator | None = None) -> NLL:
        """The training pass, `nll`; a module call, so DDP synchronises the gradients."""
        return self.nll(gt, lq, label, dequant_noise, generator)

    def translate(self, x: torch.Tensor, lq: torch.Tensor, generator: torch.Generator | None = None,
                  heat: float = 1.0, dequant_noise: bool = True) -> torch.Tensor:
        """Clean -> degraded: encode x under h(lq), each level's latent z -> D z + heat * u (DomainShift.degrade),
        decode.
        Dequantisation noise is on by default, as in DeFlow's translate.py. The output is not clipped."""
        self._check_sizes(lq, x)
        conds = self.condition(lq, generator)
        x = self._dequantize(x, generator) if dequant_noise else x
        with full_precision(x):
            latents, _ = self.encode(x, conds, 0)
            shifted = {level: self.shifts[str(level)].degrade(z, generator, heat, conds[level - 1])
                       for level, z in latents.items()}
            return self._filter(self.decode(shifted, conds, label=1)[0], 1)

    def translate_back(self, y: torch.Tensor, lq: torch.Tensor, generator: torch.Generator | None = None,
                       heat: float = 0.0) -> torch.Tensor:
        """Degraded -> clean: every latent goes to its Gaussian posterior given the shift (`get_translate_with_zs`
        of the official code, codes/models/SRFL_Glow_model.py); heat 0 takes the posterior mean."""
        self._check_sizes(lq, y)
        conds = self.condition(lq, generator)
        with full_precision(y):
            latents, _ = self.encode(self._unfilter(y, 1)[0], conds, 1)
            clean = {level: self.shifts[str(level)].posterior(z, generator, heat, conds[level - 1])
                     for level, z in latents.items()}
            return self.decode(clean, conds, label=0)[0]

    def sample(self, lq: torch.Tensor, label, generator: torch.Generator | None = None) -> torch.Tensor:
        """An image of domain `label` given h(lq), every latent drawn from its prior (no temperature)."""
        height, width = self._check_sizes(lq)
        conds = self.condition(lq, generator)
        shapes = self.flow.latent_shapes(lq.shape[0], height, width)
        with full_precision(lq):
            latents = {level: self.shifts[str(level)].sample(shape, label, generator, conds[level - 1]).to(lq.dtype)
                       for level, shape in shapes.items()}
            return self._filter(self.decode(latents, conds, label=label)[0], label)
