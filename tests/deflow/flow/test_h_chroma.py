"""chroma_blur_noise (deflow/flow/h/chroma.py): the chroma blurred in BT.601 YCbCr and the luma kept, then bicubic;
perturb's noise of its own std in luma and in chroma; and the reason it exists: chroma noise correlated over 2x2
pixels (JPEG 4:2:0) survives bicubic_noise's downsampling and not this h's."""
import cv2
import numpy as np
import pytest
import torch

from deflow.errors import UserError
from deflow.flow.h import build_h
from deflow.tools.sample_photos import photo
from degradations.resize import imresize

# BT.601 full-range (JFIF) RGB -> YCbCr, written out independently of the code under test.
RGB_TO_YCBCR = torch.tensor([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])


def ycbcr(x: torch.Tensor) -> torch.Tensor:
    return torch.einsum("rc,bchw->brhw", RGB_TO_YCBCR, x)


def test_downsample_is_bicubic_of_the_image_with_its_cb_and_cr_gaussian_blurred():
    image = photo("astronaut")[None, :, 100:164, 120:216]
    yuv = ycbcr(image)[0].permute(1, 2, 0).numpy()
    blurred = np.stack([yuv[..., 0], *(cv2.GaussianBlur(np.ascontiguousarray(yuv[..., c]), (0, 0), 2.5)
                                       for c in (1, 2))], -1)
    rgb = torch.einsum("rc,chw->rhw", torch.linalg.inv(RGB_TO_YCBCR), torch.from_numpy(blurred).permute(2, 0, 1))
    expected = imresize(rgb[None], size=(16, 24))
    out = build_h({"type": "chroma_blur_noise", "chroma_sigma": 2.5}, 4).downsample(image)
    assert torch.allclose(out, expected, atol=1e-5)
    luma_only = imresize(image, size=(16, 24))
    assert torch.allclose(ycbcr(out)[:, 0], ycbcr(luma_only)[:, 0], atol=1e-5)  # the luma is bicubic_noise's
    assert ycbcr(out - luma_only)[:, 1:].abs().max() > 0.01  # and the chroma is not


def test_perturb_adds_luma_and_chroma_noise_of_their_own_stds():
    h = build_h({"type": "chroma_blur_noise", "noise_std_luma": 0.03, "noise_std_chroma": 0.01}, 4)
    lr = torch.full((2, 3, 128, 128), 0.5)
    noise = ycbcr(h.perturb(lr, torch.Generator().manual_seed(0)) - lr).transpose(0, 1).flatten(1)
    assert noise.std(dim=1) == pytest.approx(torch.tensor([0.03, 0.01, 0.01]), rel=0.03)
    correlation = torch.corrcoef(noise)
    assert (correlation - torch.eye(3)).abs().max() < 0.02  # Y, Cb, Cr drawn independently


def test_chroma_noise_correlated_over_2x2_survives_bicubic_noise_and_not_this_h():
    """Flat grey plus chroma noise drawn at half resolution and repeated over 2x2 pixels (as 4:2:0 chroma): after
    the downsampling by 4, bicubic_noise keeps more than twice the chroma noise this h keeps, and neither touches
    the luma."""
    g = torch.Generator().manual_seed(0)
    chroma = torch.randn(1, 2, 64, 64, generator=g).repeat_interleave(2, 2).repeat_interleave(2, 3) * 0.05
    yuv = torch.cat([torch.full((1, 1, 128, 128), 0.5), chroma], 1)
    image = torch.einsum("rc,bchw->brhw", torch.linalg.inv(RGB_TO_YCBCR), yuv)
    kept = {name: ycbcr(build_h({"type": name}, 4).downsample(image))[:, 1:, 4:-4, 4:-4].std().item()
            for name in ("bicubic_noise", "chroma_blur_noise")}
    assert kept["bicubic_noise"] > 2 * kept["chroma_blur_noise"], kept


def test_a_chroma_sigma_that_is_not_positive_is_a_user_error():
    with pytest.raises(UserError, match="network_g.h.chroma_sigma: must be positive"):
        build_h({"type": "chroma_blur_noise", "chroma_sigma": 0}, 4)
