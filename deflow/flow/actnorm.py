"""ActNorm (Glow): a per-channel affine map whose first training batch sets it to zero mean, unit std."""
import torch
import torch.distributed as dist
from torch import nn

from deflow.flow.base import InvertibleLayer


class ActNorm(InvertibleLayer):
    """y = (x + bias) * exp(logs) per channel; logdet = H * W * sum(logs).

    The first forward (encode direction) in training mode initialises bias and logs from that batch so
    that the output has zero mean and unit std per channel. The buffer `initialized` travels in the
    state_dict, so a net whose weights were loaded is never re-initialised.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.logs = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.register_buffer("initialized", torch.tensor(False))
        self._known_initialized = False  # mirrors the buffer once True, to skip a device sync per call

    def _load_from_state_dict(self, *args, **kwargs):
        super()._load_from_state_dict(*args, **kwargs)
        self._known_initialized = False

    def _needs_init(self) -> bool:
        if not self._known_initialized:
            self._known_initialized = bool(self.initialized)
        return not self._known_initialized

    @torch.no_grad()
    def initialize(self, x: torch.Tensor) -> None:
        """From the batch of all processes under DDP: every rank then holds the same parameters, as DDP assumes."""
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            mean = x.mean(dim=(0, 2, 3), keepdim=True)
            dist.all_reduce(mean)
            mean /= dist.get_world_size()
            var = (x - mean).pow(2).mean(dim=(0, 2, 3), keepdim=True)
            dist.all_reduce(var)
            std = (var / dist.get_world_size()).sqrt()
        else:
            mean = x.mean(dim=(0, 2, 3), keepdim=True)
            std = (x - mean).pow(2).mean(dim=(0, 2, 3), keepdim=True).sqrt()
        self.bias.copy_(-mean)
        self.logs.copy_(-torch.log(std + 1e-6))
        self.initialized.fill_(True)

    def forward(self, x, cond=None, reverse: bool = False):
        if self.training and not reverse and self._needs_init():
            self.initialize(x)
        logdet = (self.logs.sum() * (x.shape[2] * x.shape[3])).expand(x.shape[0])
        if reverse:
            return x * torch.exp(-self.logs) - self.bias, -logdet
        return (x + self.bias) * torch.exp(self.logs), logdet
