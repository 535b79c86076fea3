import torch

from degradations.blur import blur
from degradations.kernels import gaussian_kernel, kernel_grid
from degradations.psf import apply_psf_field, coma_field, node_weights, radial_gaussian_field


def test_a_constant_psf_field_is_plain_convolution():
    x = torch.rand(2, 3, 50, 70, generator=torch.Generator().manual_seed(0))
    k = gaussian_kernel(11, 2.0, 1.0, 0.4)
    assert torch.allclose(apply_psf_field(x, k.expand(4, 5, 3, 11, 11)), blur(x, k), atol=1e-6)


def test_field_equals_bilinear_mix_of_full_image_convolutions():
    x = torch.rand(1, 3, 40, 52, generator=torch.Generator().manual_seed(1))
    field = coma_field((3, 4), 9, sigma=0.7, length=4.0)
    wy, wx = node_weights(40, 3), node_weights(52, 4)
    expected = sum(blur(x, field[i, j][None]) * (wy[i][:, None] * wx[j][None, :])
                   for i in range(3) for j in range(4))
    assert torch.allclose(apply_psf_field(x, field), expected, atol=1e-6)


def test_node_weights_are_a_partition_of_unity_and_one_at_tile_centres():
    w = node_weights(60, 4)
    assert torch.allclose(w.sum(dim=0), torch.ones(60))
    centres = [7, 22, 37, 52]  # (i + 0.5) * 15 - 0.5
    assert all(w[i, c] == 1 for i, c in enumerate(centres))


def test_batched_fields_equal_applying_each_field_alone():
    x = torch.rand(2, 3, 32, 32)
    fields = torch.stack([radial_gaussian_field((3, 3), 9), coma_field((3, 3), 9)])
    batched = apply_psf_field(x, fields)
    for i in range(2):
        assert torch.allclose(batched[i], apply_psf_field(x[i:i + 1], fields[i])[0], atol=1e-6)


def second_moment(k: torch.Tensor) -> float:
    x, y = kernel_grid(k.shape[-1])
    return float((k.double() * (x * x + y * y)).sum())


def centroid(k: torch.Tensor) -> tuple[float, float]:
    x, y = kernel_grid(k.shape[-1])
    return float((k.double() * x).sum()), float((k.double() * y).sum())


def test_radial_field_blurs_more_at_the_corners_than_at_the_centre():
    field = radial_gaussian_field((5, 5), 21, sigma_center=0.5, sigma_edge=2.5)
    assert second_moment(field[0, 0, 0]) > 4 * second_moment(field[2, 2, 0])


def test_coma_field_is_symmetric_at_the_centre_and_points_outward_at_the_corners():
    field = coma_field((5, 5), 21, sigma=0.8, length=6.0)
    cx, cy = centroid(field[2, 2, 1])
    assert abs(cx) < 1e-6 and abs(cy) < 1e-6
    bx, by = centroid(field[4, 4, 1])  # bottom-right: tail towards +x (right) and +y (down)
    tx, ty = centroid(field[0, 0, 1])
    assert bx > 1 and by > 1 and tx < -1 and ty < -1
