"""The generic MoCo head: the queue advances by the batch, the key encoder by the momentum rule, InfoNCE as defined."""
import math

import pytest
import torch
from torch import nn

from sr.dasr.moco import MoCoHead


def head(queue_size=8, momentum=0.9):
    torch.manual_seed(0)
    encoder = nn.Linear(5, 4)
    return encoder, MoCoHead(encoder, dim=4, queue_size=queue_size, momentum=momentum, temperature=0.5)


def test_the_queue_advances_by_the_batch_fifo_and_wraps():
    _, moco = head(queue_size=6)
    before = moco.queue.clone()
    a, b, c = (torch.full((2, 4), float(v)) for v in (1, 2, 3))
    moco.enqueue(a)
    assert int(moco.queue_ptr) == 2
    assert torch.equal(moco.queue[:, :2], a.T) and torch.equal(moco.queue[:, 2:], before[:, 2:])
    moco.enqueue(b)
    moco.enqueue(c)
    assert int(moco.queue_ptr) == 0
    d = torch.full((2, 4), 4.0)
    moco.enqueue(d)  # the oldest keys (a) go first
    assert torch.equal(moco.queue, torch.cat([d.T, b.T, c.T], dim=1))
    with pytest.raises(ValueError):
        moco.enqueue(torch.zeros(4, 4))  # 4 does not divide 6


def test_the_key_encoder_follows_by_momentum():
    encoder, moco = head(momentum=0.9)
    assert all(torch.equal(k, q) for k, q in zip(moco.key_encoder.parameters(), encoder.parameters()))
    with torch.no_grad():
        for p in encoder.parameters():
            p.add_(1.0)
    old_keys = [p.clone() for p in moco.key_encoder.parameters()]
    moco.momentum_update(encoder)
    for key, old, query in zip(moco.key_encoder.parameters(), old_keys, encoder.parameters()):
        torch.testing.assert_close(key, 0.9 * old + 0.1 * query)
    assert not any(p.requires_grad for p in moco.key_encoder.parameters())


def test_info_nce_matches_its_definition():
    _, moco = head(queue_size=8)
    q, k = torch.randn(3, 4), nn.functional.normalize(torch.randn(3, 4), dim=1)
    qn = q / q.norm(dim=1, keepdim=True)
    expected = 0.0
    for i in range(3):
        pos = math.exp(float(qn[i] @ k[i]) / 0.5)
        neg = sum(math.exp(float(qn[i] @ moco.queue[:, j]) / 0.5) for j in range(8))
        expected += -math.log(pos / (pos + neg)) / 3
    assert abs(float(moco.loss(q, k)) - expected) < 1e-5
