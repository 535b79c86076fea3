"""The training sampler: an endless, seeded, resumable stream of sample ids, sharded over DDP ranks.

Epoch e is a permutation of range(n * enlarge_ratio), seeded by (seed, e). The run's stream is the
concatenation of those epochs; sample id k = e * n * enlarge_ratio + perm[j] is unique over the run, so a
dataset can seed its per-item randomness with it. Rank r takes stream positions p with p % world == r,
which makes a global batch of b * world the same samples whatever the number of processes.
"""
import torch
from torch.utils.data import Sampler


class ResumableSampler(Sampler):
    def __init__(self, num_items: int, seed: int, enlarge_ratio: int = 1, rank: int = 0, world_size: int = 1,
                 start_position: int = 0):
        self.epoch_len = num_items * enlarge_ratio
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.start_position = start_position  # global stream position of the first sample to yield

    def _epoch(self, epoch: int) -> torch.Tensor:
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(self.epoch_len, generator=gen) + epoch * self.epoch_len

    def __iter__(self):
        position = self.start_position + (self.rank - self.start_position) % self.world_size
        epoch, perm = -1, None
        while True:
            if position // self.epoch_len != epoch:
                epoch = position // self.epoch_len
                perm = self._epoch(epoch)
            yield int(perm[position % self.epoch_len])
            position += self.world_size

    def __len__(self):
        return 2 ** 62  # endless; training length is set by train.total_iter
