"""Per-sample convolution: a different kernel for every image of a batch, one grouped conv."""
import torch
import torch.nn.functional as F


def pad_kernels(kernels: torch.Tensor, size: int) -> torch.Tensor:
    """Zero-pad (..., k, k) kernels to (..., size, size), size >= k, both odd; the centre stays centred."""
    k = kernels.shape[-1]
    if size == k:
        return kernels
    if size < k or (size - k) % 2:
        raise ValueError(f"cannot pad a {k}x{k} kernel to {size}x{size}")
    p = (size - k) // 2
    return F.pad(kernels, (p, p, p, p))


def blur(x: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Convolve each image with its own kernel (true convolution: the kernel is flipped).

    Args:
        x: (B, C, H, W) float tensor.
        kernels: (k, k) for the whole batch, (B, k, k) one per image, or (B, C, k, k) one per image and
            channel; k odd. Moved to x's device and dtype.

    Returns:
        (B, C, H, W): reflect padding of k // 2 (replicate where the image is too small to reflect).
    """
    b, c, h, w = x.shape
    if kernels.dim() == 2:
        kernels = kernels[None]
    if kernels.dim() == 3:
        kernels = kernels[:, None].expand(kernels.shape[0], c, *kernels.shape[1:])
    k = kernels.shape[-1]
    if k % 2 == 0 or kernels.shape[-2] != k:
        raise ValueError(f"kernels must be square with an odd size, got {tuple(kernels.shape)}")
    kernels = kernels.expand(b, c, k, k).to(device=x.device, dtype=x.dtype)
    p = k // 2
    mode = "reflect" if p < min(h, w) else "replicate"
    padded = F.pad(x, (p, p, p, p), mode=mode).reshape(1, b * c, h + 2 * p, w + 2 * p)
    weight = kernels.flip(-2, -1).reshape(b * c, 1, k, k)
    return F.conv2d(padded, weight, groups=b * c).reshape(b, c, h, w)
