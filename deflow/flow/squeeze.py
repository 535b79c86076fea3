"""Space-to-depth by 2: (B, C, H, W) <-> (B, 4C, H/2, W/2), a permutation (logdet 0)."""
import torch.nn.functional as F

from deflow.flow.base import InvertibleLayer


class Squeeze(InvertibleLayer):
    """Output channel 4c + 2i + j holds input channel c at offset (i, j) of every 2x2 block."""

    def forward(self, x, cond=None, reverse: bool = False):
        y = F.pixel_shuffle(x, 2) if reverse else F.pixel_unshuffle(x, 2)
        return y, x.new_zeros(x.shape[0])
