"""What a degradation encoder learned: held-out LR patches with known degradations, a k-nearest-neighbour probe of
their representations, and 2-D embeddings (PCA, t-SNE) in torch, for DASR's Fig. 6-style pictures."""
import math

import torch

from degradations.pipeline import Pipeline


def fixed_degradation(scale: int, sigma: float, noise: float = 0.0) -> Pipeline:
    """DASR's test degradation (official `test.py`): a 21x21 isotropic Gaussian of std `sigma` (0: none), MATLAB
    bicubic down by `scale`, Gaussian noise of std `noise` (0-255 scale), 8-bit rounding."""
    steps = [{"op": "blur", "params": {"kernel": "iso", "size": 21, "sigma_x": float(sigma)}}] if sigma > 0 else []
    steps.append({"op": "resize", "params": {"relative_to": "lr", "mode": "imresize"}})
    if noise > 0:
        steps.append({"op": "gaussian_noise", "params": {"sigma": float(noise)}})
    steps.append({"op": "quantize"})
    return Pipeline.from_config(steps, scale, f"iso sigma {sigma:g} noise {noise:g}")


def random_crops(images: list[torch.Tensor], count: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """(count, 3, size, size) crops of the (3, H, W) `images`, taken in turn, at random positions."""
    crops = []
    for i in range(count):
        img = images[i % len(images)]
        top = int(torch.randint(0, img.shape[-2] - size + 1, (), generator=generator))
        left = int(torch.randint(0, img.shape[-1] - size + 1, (), generator=generator))
        crops.append(img[:, top:top + size, left:left + size])
    return torch.stack(crops)


def degraded_patches(images: list[torch.Tensor], scale: int, sigmas: list[float], noises: list[float],
                     lr_size: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One LR patch of `lr_size` per (sigma, noise) pair, from random HR crops of `images`: (lr (N, 3, s, s),
    sigma (N,), noise (N,))."""
    generator = torch.Generator().manual_seed(seed)
    hr = random_crops(images, len(sigmas), lr_size * scale, generator)
    lr = [fixed_degradation(scale, s, n)(hr[i:i + 1], generator) for i, (s, n) in enumerate(zip(sigmas, noises))]
    return torch.cat(lr), torch.tensor(sigmas), torch.tensor(noises)


def bin_of(values: torch.Tensor, low: float, high: float, bins: int) -> torch.Tensor:
    """The index of the equal-width bin of [low, high] each value falls in (0 .. bins - 1)."""
    return ((values - low) / (high - low) * bins).floor().clamp(0, bins - 1).long()


def standardise(reference: torch.Tensor, *others: torch.Tensor) -> list[torch.Tensor]:
    """Every set centred and scaled by the reference set's per-feature mean and std."""
    mean, std = reference.mean(0), reference.std(0).clamp_min(1e-8)
    return [(x - mean) / std for x in (reference, *others)]


def knn_predict(reference: torch.Tensor, labels: torch.Tensor, queries: torch.Tensor, k: int = 5) -> torch.Tensor:
    """The majority label of each query's k nearest reference points (Euclidean; ties to the smaller label)."""
    nearest = torch.cdist(queries.double(), reference.double()).topk(k, largest=False).indices
    votes = torch.zeros(queries.shape[0], int(labels.max()) + 1, dtype=torch.long)
    votes.scatter_add_(1, labels[nearest], torch.ones_like(nearest))
    return votes.argmax(dim=1)


def pca_2d(x: torch.Tensor) -> torch.Tensor:
    """(N, D) -> (N, 2): the projection on the two leading principal components."""
    centred = x.double() - x.double().mean(0)
    _, _, v = torch.linalg.svd(centred, full_matrices=False)
    return (centred @ v[:2].T).float()


def _affinities(x: torch.Tensor, perplexity: float) -> torch.Tensor:
    """t-SNE's symmetric input affinities P: per point, a Gaussian whose entropy matches log(perplexity)."""
    d = torch.cdist(x, x).pow(2)
    n, target = x.shape[0], math.log(perplexity)
    beta = torch.ones(n, dtype=x.dtype)
    lo, hi = torch.zeros(n, dtype=x.dtype), torch.full((n,), float("inf"), dtype=x.dtype)
    eye = torch.eye(n, dtype=torch.bool)
    for _ in range(60):  # bisection on the precision of every point at once
        p = torch.exp(-(d - d.masked_fill(eye, float("inf")).min(1, keepdim=True).values) * beta[:, None])
        p = p.masked_fill(eye, 0)
        p = p / p.sum(1, keepdim=True)
        entropy = -(p * p.clamp_min(1e-300).log()).sum(1)
        higher = entropy > target
        lo = torch.where(higher, beta, lo)
        hi = torch.where(higher, hi, beta)
        beta = torch.where(hi.isinf(), beta * 2, (lo + hi) / 2)
    p = (p + p.T) / (2 * n)
    return p.clamp_min(1e-12)


def tsne_2d(x: torch.Tensor, perplexity: float = 30.0, steps: int = 750, seed: int = 0) -> torch.Tensor:
    """(N, D) -> (N, 2) by exact t-SNE (van der Maaten & Hinton 2008): early exaggeration 12 for 250 steps,
    gradient descent with momentum 0.5 then 0.8, learning rate max(N / 12, 50)."""
    x = pca_2d_input(x)
    n = x.shape[0]
    p = _affinities(x, min(perplexity, (n - 1) / 3))
    y = torch.randn(n, 2, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 1e-4
    velocity, rate = torch.zeros_like(y), max(n / 12, 50.0)
    for step in range(steps):
        exaggeration = 12.0 if step < 250 else 1.0
        num = 1 / (1 + torch.cdist(y, y).pow(2))
        num.fill_diagonal_(0)
        q = (num / num.sum()).clamp_min(1e-12)
        grad = 4 * (((exaggeration * p - q) * num)[:, :, None] * (y[:, None] - y[None])).sum(1)
        velocity = (0.5 if step < 250 else 0.8) * velocity - rate * grad
        y = y + velocity
        y = y - y.mean(0)
    return y.float()


def pca_2d_input(x: torch.Tensor, dims: int = 50) -> torch.Tensor:
    """t-SNE's usual preprocessing: standardised features reduced to at most `dims` principal components."""
    x = standardise(x.double())[0]
    centred = x - x.mean(0)
    _, _, v = torch.linalg.svd(centred, full_matrices=False)
    return centred @ v[:dims].T
