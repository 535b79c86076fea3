"""The conditioning encoder: RRDB features of the noisy low-resolution image at every flow level."""
import math
import os
import re

import torch
import torch.nn.functional as F
from torch import nn

from deflow import checkpoint
from deflow.archs.esrgan_keys import basicsr_key
from deflow.archs.rrdbnet import RRDB
from deflow.errors import UserError
from deflow.models.base import inference_weights


def tap_indices(num_blocks: int) -> tuple[int, ...]:
    """0-based RRDB blocks whose outputs are stacked: the last block and the blocks nb // 3, 2 (nb // 3) and
    3 (nb // 3) before it. nb = 23 gives (1, 8, 15, 22), the official `stackRRDB.blocks` (SRFlow compares
    them with 0-based indices); nb = 4 gives (0, 1, 2, 3); nb < 3 repeats the last block."""
    step = num_blocks // 3
    return tuple(num_blocks - 1 - step * j for j in (3, 2, 1, 0))


class ConditionEncoder(nn.Module):
    """(B, 3, h, w) conditioning image -> one (B, 5 * nf, h * f_l, w * f_l) map per flow level, f_l = scale / 2^l.

    The map of level l is the feature at relative factor f_l (nf channels) concatenated with the outputs of
    the four tapped RRDB blocks (4 nf channels), nearest-resized to it (`rrdbPreprocessing` with `stackRRDB.concat`
    of the official code, codes/models/modules/RRDBGlowNet_arch.py; features from its RRDBNet_arch.py):
        f = 1:    the trunk, RRDB output + conv_body(RRDB output) (SRFlow's `last_lr_fea`);
        f = 2^k:  the k-th upsampling stage, LeakyReLU(conv_up_k(nearest 2x of the previous stage)) — the
                  official `fea_up2`, `fea_up4` end up activated because SRFlow's LeakyReLU works in place;
        f < 1:    bilinear downsampling of the trunk (`fea_up0` for 0.5).
    Only the upsampling convs some level needs are built (AIM, scale 8 and L 3: two; SRFlow holds a third).

    Args:
        scale: flow input side / conditioning image side (8 AIM, 4 NTIRE/DPED), a power of two.
        L: flow levels.
        nf, nb, gc: RRDB width, number of blocks and growth channels (64, 23, 32 in ESRGAN).
        in_channels: channels of the conditioning image.
    """

    def __init__(self, scale: int = 4, L: int = 3, nf: int = 64, nb: int = 23, gc: int = 32, in_channels: int = 3):
        super().__init__()
        if scale < 1 or scale & (scale - 1):
            raise UserError(f"network_g.scale must be a power of two, got {scale}")
        self.factors = [scale / 2 ** level for level in range(1, L + 1)]
        self.taps = tap_indices(nb)
        self.out_channels = 5 * nf
        self.conv_first = nn.Conv2d(in_channels, nf, 3, 1, 1)
        self.body = nn.Sequential(*(RRDB(nf, gc) for _ in range(nb)))
        self.conv_body = nn.Conv2d(nf, nf, 3, 1, 1)
        n_up = int(math.log2(max(self.factors))) if max(self.factors) >= 2 else 0
        for k in range(1, n_up + 1):
            self.add_module(f"conv_up{k}", nn.Conv2d(nf, nf, 3, 1, 1))
        self.n_up = n_up

    def forward(self, lr: torch.Tensor) -> list[torch.Tensor]:
        feat = self.conv_first(lr)
        block_outputs = []
        for block in self.body:
            feat = block(feat)
            block_outputs.append(feat)
        stack = torch.cat([block_outputs[i] for i in self.taps], 1)
        trunk = feat + self.conv_body(feat)
        features = {1.0: trunk}
        up = trunk
        for k in range(1, self.n_up + 1):
            up = F.leaky_relu(getattr(self, f"conv_up{k}")(F.interpolate(up, scale_factor=2, mode="nearest")), 0.2)
            features[float(2 ** k)] = up
        for f in self.factors:
            if f < 1:
                size = (round(lr.shape[2] * f), round(lr.shape[3] * f))
                features[f] = F.interpolate(trunk, size=size, mode="bilinear", align_corners=False)
        return [torch.cat([features[f], F.interpolate(stack, size=features[f].shape[2:], mode="nearest")], 1)
                for f in self.factors]

    def load_pretrained(self, path: str) -> None:
        """Load ESRGAN RRDB weights (BasicSR or original key names, bare or under params/params_ema/
        state_dict, optionally prefixed by `module.` or `RRDB.`; or network g of a deflow checkpoint or exported
        weights file). The HR head is ignored; any weight of this encoder missing from the file or of another shape
        is a UserError, never a silent random init."""
        if not os.path.isfile(path):
            raise UserError(f"network_g.pretrain_encoder: no such file {path}")
        state = checkpoint.load(path)
        if "model" in state or "inference_weights" in state:
            state = inference_weights(state, "g", path)
        for key in ("params_ema", "params", "state_dict"):
            if key in state:
                state = state[key]
                break
        renamed = {basicsr_key(re.sub(r"^(module\.)?(RRDB\.)?", "", key)): value for key, value in state.items()}
        own = self.state_dict()
        missing = [k for k in own if k not in renamed]
        mismatched = [k for k in own if k in renamed and renamed[k].shape != own[k].shape]
        if missing or mismatched:
            raise UserError(f"{path} does not fit the conditioning encoder (nf/nb/gc?): "
                            f"missing {missing[:3]}{'...' if len(missing) > 3 else ''}, wrong shape {mismatched[:3]}")
        self.load_state_dict({k: renamed[k] for k in own})
