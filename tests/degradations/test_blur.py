import numpy as np
import torch
from scipy import ndimage

from degradations.blur import blur, pad_kernels
from degradations.kernel_sampling import random_kernels
from degradations.kernels import motion_kernel


def test_blur_with_one_kernel_per_image_equals_blurring_each_image_alone():
    x = torch.rand(5, 3, 40, 48, generator=torch.Generator().manual_seed(0))
    kernels = random_kernels(5, torch.Generator().manual_seed(1))
    batched = blur(x, kernels)
    for i in range(5):
        assert torch.allclose(batched[i], blur(x[i:i + 1], kernels[i])[0], atol=1e-6)


def test_blur_is_true_convolution_with_reflect_borders_like_scipy_mirror_mode():
    x = torch.rand(1, 2, 30, 35, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    k = motion_kernel(9, 5.0, 0.7).double()
    k = k + torch.linspace(0, 0.01, 81, dtype=torch.float64).reshape(9, 9)  # break every symmetry
    ours = blur(x, k / k.sum())[0].numpy()
    for c in range(2):
        ref = ndimage.convolve(x[0, c].numpy(), (k / k.sum()).numpy(), mode="mirror")
        assert np.abs(ours[c] - ref).max() < 1e-12


def test_blur_accepts_per_channel_kernels_and_a_delta_kernel_is_identity():
    x = torch.rand(2, 3, 16, 16)
    delta = pad_kernels(torch.ones(1, 1), 7)
    assert torch.equal(blur(x, delta), x)
    per_channel = torch.stack([delta, pad_kernels(torch.ones(1, 1), 7), delta])[None].expand(2, 3, 7, 7)
    assert torch.allclose(blur(x, per_channel), x)
