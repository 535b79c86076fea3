"""Realism of synthetic images: a classifier two-sample test (C2ST; Lopez-Paz and Oquab, "Revisiting Classifier
Two-Sample Tests", ICLR 2017).

A small CNN learns to tell patches of sample A from patches of sample B; its accuracy on held-out patches is the
score: 0.5 means the classifier found no difference, 1.0 that the two are told apart every time.

    a = sample_patches(synthetic_images, 1024, 32, torch.Generator().manual_seed(0))
    b = sample_patches(real_images, 1024, 32, torch.Generator().manual_seed(1))
    accuracy = c2st_accuracy(a, b, seed=0)

Patches are float RGB (N, 3, p, p) in [0, 1] on any device; the test runs on the patches' device.
"""
import torch
import torch.nn.functional as F
from torch import nn


def sample_patches(images: list[torch.Tensor], n: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """(n, 3, size, size) crops at uniformly random positions of `images` ((3, H, W) each, at least size x size),
    each image drawn with probability proportional to the number of positions it has. `generator`: a CPU one."""
    positions = torch.tensor([(img.shape[-2] - size + 1) * (img.shape[-1] - size + 1) for img in images],
                             dtype=torch.float64)
    if (positions <= 0).any():
        raise ValueError(f"every image must be at least {size}x{size}")
    which = torch.multinomial(positions, n, replacement=True, generator=generator)
    patches = []
    for i in which.tolist():
        img = images[i]
        top = int(torch.randint(0, img.shape[-2] - size + 1, (), generator=generator))
        left = int(torch.randint(0, img.shape[-1] - size + 1, (), generator=generator))
        patches.append(img[:, top:top + size, left:left + size])
    return torch.stack(patches)


class HighPass(nn.Module):
    """(N, 3, p, p) -> (N, 6, p, p): the centred image and 10x its residual from a 3x3 box blur, so the first layer
    sees fine noise and compression as clearly as colour and brightness."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x - F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
        return torch.cat([x - 0.5, 10 * residual], dim=1)


def classifier(width: int = 16) -> nn.Module:
    """High-pass features, three 3x3 convolutions (the last two with stride 2), global average pooling, a logit."""
    return nn.Sequential(
        HighPass(), nn.Conv2d(6, width, 3, padding=1), nn.LeakyReLU(0.2),
        nn.Conv2d(width, width, 3, stride=2, padding=1), nn.LeakyReLU(0.2),
        nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.LeakyReLU(0.2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2 * width, 1))


def c2st_accuracy(patches_a: torch.Tensor, patches_b: torch.Tensor, seed: int = 0, steps: int = 200,
                  batch_size: int = 32, holdout: float = 0.3, lr: float = 1e-3) -> float:
    """Held-out accuracy of a CNN trained to tell patches_a (N, 3, p, p) from patches_b (M, 3, p, p).

    Classes are balanced (min(N, M) patches of each, drawn at random); `holdout` of each class is kept for the
    accuracy, the rest trains the CNN for `steps` Adam steps on batches of `batch_size` with random flips. The
    same inputs, seed and device give the same result (the global RNG is left as it was).
    """
    if patches_a.dim() != 4 or patches_a.shape[1:] != patches_b.shape[1:]:
        raise ValueError(f"patches must be (N, C, p, p) of one shape, got {tuple(patches_a.shape)} and "
                         f"{tuple(patches_b.shape)}")
    generator = torch.Generator().manual_seed(seed)
    n = min(len(patches_a), len(patches_b))
    n_test = int(round(n * holdout))
    if n_test < 1 or n - n_test < 1:
        raise ValueError(f"too few patches for a held-out split: {n} per class")
    device = patches_a.device
    a = patches_a[torch.randperm(len(patches_a), generator=generator)[:n].to(device)]
    b = patches_b.to(device)[torch.randperm(len(patches_b), generator=generator)[:n].to(device)]
    x_train = torch.cat([a[n_test:], b[n_test:]]).float()
    y_train = torch.cat([torch.zeros(n - n_test), torch.ones(n - n_test)]).to(device)
    x_test = torch.cat([a[:n_test], b[:n_test]]).float()
    y_test = torch.cat([torch.zeros(n_test), torch.ones(n_test)]).to(device)

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = classifier().to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    for _ in range(steps):
        index = torch.randint(0, len(x_train), (batch_size,), generator=generator).to(device)
        x = x_train[index]
        if torch.rand((), generator=generator) < 0.5:
            x = x.flip(-1)
        if torch.rand((), generator=generator) < 0.5:
            x = x.flip(-2)
        loss = F.binary_cross_entropy_with_logits(net(x)[:, 0], y_train[index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        predicted = torch.cat([net(chunk)[:, 0] > 0 for chunk in x_test.split(256)]).float()
    return float((predicted == y_test).float().mean())
