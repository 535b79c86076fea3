import torch

from deflow.tools.sample_photos import photo
from degradations.blur import blur
from degradations.kernels import gaussian_kernel
from degradations.psf import apply_psf_field, node_weights
from metrics.psnr import psnr
from sr.psf.wiener import coordinate_maps, field_wiener, node_weights_at, wiener_deconvolve


def test_wiener_with_the_true_psf_and_no_noise_recovers_the_image():
    x = photo("astronaut")[None, :, 100:228, 150:278]
    k = gaussian_kernel(9, 1.2).float()
    y = blur(x, k)
    restored = wiener_deconvolve(y, k.expand(1, 3, 9, 9), 1e-5)
    assert psnr(y, x, 8) < 30 and psnr(restored.clamp(0, 1), x, 8) > 35


def test_node_weights_from_coordinates_match_the_field_weights():
    w = node_weights_at(coordinate_maps(30, 44), (3, 4))[0]
    expected = node_weights(30, 3)[:, None, :, None] * node_weights(44, 4)[None, :, None, :]
    assert torch.allclose(w, expected, atol=1e-6)


def test_field_wiener_inverts_a_spatially_variant_blur():
    from deflow.psf.synthetic import planted_field

    x = photo("coffee")[None, :, 60:188, 100:292]
    field = planted_field((3, 4))
    y = apply_psf_field(x, field)
    restored = field_wiener(y, field, 1e-5, coordinate_maps(*x.shape[-2:]))
    assert psnr(restored.clamp(0, 1), x, 8) > psnr(y, x, 8) + 5
