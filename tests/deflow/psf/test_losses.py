import torch

from deflow.psf.losses import boundary_mask, node_boundary_masks, sum2one_loss, symmetry_loss
from degradations.kernels import gaussian_kernel


def test_sum2one_and_symmetry_are_zero_for_a_symmetric_normalised_kernel_and_positive_otherwise():
    k = gaussian_kernel(11, 1.5, 0.8, 0.3).float()  # an anisotropic Gaussian is centrally symmetric
    assert sum2one_loss(k) < 1e-6 and symmetry_loss(k) < 1e-12
    assert abs(float(sum2one_loss(1.1 * k)) - 0.1) < 1e-5
    shifted = torch.roll(k, 1, dims=-1)
    expected = float(((shifted - shifted.flip(-2, -1)) ** 2).sum() / 4)
    assert symmetry_loss(shifted) > 1e-5 and abs(float(symmetry_loss(shifted)) - expected) < 1e-9


def test_boundary_mask_touches_only_the_outer_ring():
    for size, ring in ((19, 3), (23, 4), (27, 5), (7, 1)):
        m = boundary_mask(size)
        inner = m[ring:-ring, ring:-ring]
        assert torch.all(inner == 0), size
        outer = m.clone()
        outer[ring:-ring, ring:-ring] = 1
        assert torch.all(outer > 0), size


def test_node_masks_use_each_zone_size_and_weight():
    sizes = torch.tensor([[7, 9], [11, 11]])
    masks = node_boundary_masks(sizes, 11, (7, 9, 11), (5.0, 2.0, 1.0))
    assert torch.allclose(masks[0, 0, 0, 2:9, 2:9], 5.0 * boundary_mask(7)) and masks[0, 0, 0, :2].abs().sum() == 0
    assert torch.allclose(masks[1, 1, 0], boundary_mask(11))


def test_kernel_diagnostics_measure_sum_symmetry_ring_and_sign_independently():
    from deflow.psf.losses import kernel_diagnostics

    rings = (boundary_mask(7) > 0).float()
    g = gaussian_kernel(7, 1.0).float()
    clean = kernel_diagnostics(g, rings)
    assert clean["sum_error"] < 1e-6 and clean["asymmetry"] < 1e-6 and clean["negative_mass"] == 0
    assert abs(clean["ring_energy"] - float((g * rings).sum())) < 1e-6 and clean["ring_energy"] < 0.05
    one_sided = torch.zeros(7, 7)
    one_sided[3, 3], one_sided[3, 4], one_sided[0, 0] = 0.5, 0.3, -0.2  # |k| sums to 1, k sums to 0.6
    d = kernel_diagnostics(one_sided, rings)
    assert abs(d["sum_error"] - 0.4) < 1e-6 and abs(d["negative_mass"] - 0.2) < 1e-6
    assert abs(d["ring_energy"] - 0.2) < 1e-6 and abs(d["asymmetry"] - 0.5) < 1e-6  # |0.3| + |-0.2| of 1 mirrored
