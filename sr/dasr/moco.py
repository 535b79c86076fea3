"""A generic MoCo-v1 head (He et al., CVPR 2020, Algorithm 1; facebookresearch/moco `moco/builder.py`): a momentum
key encoder, a FIFO queue of past keys and the InfoNCE loss with a temperature. DASR uses it for its degradation
encoder (K = 8192, m = 0.999, tau = 0.07; Wang et al. 2021, section 3.2); other models may use it for any encoder.

    head = MoCoHead(encoder, dim=256, queue_size=8192, project=lambda net, x: net(x)[1])
    loss = head.loss(query_projection, head.keys(key_images))   # keys are computed without gradient
    head.momentum_update(encoder); head.enqueue(keys)           # after the optimizer step (an after_step hook)

The key encoder and the queue are buffers of this module, so its state_dict resumes a run exactly.
"""
import copy
from typing import Callable

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn


def gather(x: torch.Tensor) -> torch.Tensor:
    """`x` of every process, concatenated along dim 0 (x itself without DDP): the global batch of keys."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return x
    parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts)


class MoCoHead(nn.Module):
    """Args:
        encoder: the query encoder; the key encoder starts as its copy and follows it by momentum.
        dim: size of the (projected) keys.
        queue_size: K, keys of earlier batches used as negatives; a multiple of the global batch size.
        momentum: m of theta_k <- m theta_k + (1 - m) theta_q.
        temperature: tau of the InfoNCE logits.
        project: project(net, x) -> (N, dim) embedding of `x` by `net` (default: net(x)).
    """

    def __init__(self, encoder: nn.Module, dim: int, queue_size: int = 8192, momentum: float = 0.999,
                 temperature: float = 0.07, project: Callable | None = None):
        super().__init__()
        self.key_encoder = copy.deepcopy(encoder).requires_grad_(False)
        self.momentum, self.temperature = momentum, temperature
        self.project = project or (lambda net, x: net(x))
        self.register_buffer("queue", F.normalize(torch.randn(dim, queue_size), dim=0))
        self.register_buffer("queue_ptr", torch.zeros((), dtype=torch.long))

    @property
    def queue_size(self) -> int:
        return self.queue.shape[1]

    @torch.no_grad()
    def reset_keys(self, encoder: nn.Module) -> None:
        """Make the key encoder a copy of `encoder` again (after loading pretrained weights into it)."""
        self.key_encoder.load_state_dict(encoder.state_dict())

    @torch.no_grad()
    def keys(self, x: torch.Tensor) -> torch.Tensor:
        """(N, dim) L2-normalised keys of `x` by the key encoder (BatchNorm in the head's train / eval mode)."""
        return F.normalize(self.project(self.key_encoder, x), dim=1)

    def logits(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """(N, 1 + K) InfoNCE logits: [q.k+, q.k-_1 .. q.k-_K] / tau, with k+ the key of the same item and k-_j the
        queue; q is normalised here, the positive is column 0."""
        q = F.normalize(q, dim=1)
        positive = (q * k).sum(dim=1, keepdim=True)
        negative = q @ self.queue.clone().detach()
        return torch.cat([positive, negative], dim=1) / self.temperature

    @staticmethod
    def loss_of(logits: torch.Tensor) -> torch.Tensor:
        """-log exp(q.k+ / tau) / (exp(q.k+ / tau) + sum_j exp(q.k-_j / tau)), the mean over the batch."""
        return F.cross_entropy(logits, torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device))

    def loss(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """InfoNCE of queries `q` (N, dim) against their keys `k` (normalised, from `keys`) and the queue."""
        return self.loss_of(self.logits(q, k))

    @torch.no_grad()
    def momentum_update(self, encoder: nn.Module) -> None:
        """theta_k <- m theta_k + (1 - m) theta_q for every parameter (buffers: the key encoder's own, as MoCo)."""
        for key, query in zip(self.key_encoder.parameters(), encoder.parameters()):
            key.lerp_(query.detach(), 1.0 - self.momentum)

    @torch.no_grad()
    def enqueue(self, keys: torch.Tensor) -> None:
        """Replace the oldest len(keys) entries of the queue (FIFO); len(keys) must divide the queue size."""
        n = keys.shape[0]
        if self.queue_size % n:
            raise ValueError(f"MoCoHead: {n} keys do not divide the queue of {self.queue_size}")
        ptr = int(self.queue_ptr)
        self.queue[:, ptr:ptr + n] = keys.T.to(self.queue.dtype)
        self.queue_ptr.fill_((ptr + n) % self.queue_size)
