import torch

from deflow.psf.field_net import PSFFieldNet
from deflow.psf.synthetic import planted_field
from degradations.blur import blur
from degradations.psf import apply_psf_field, load_psf_field, save_psf_field


def test_a_field_applied_to_a_constant_image_leaves_it_constant():
    x = torch.full((1, 3, 64, 96), 0.37)
    assert torch.allclose(apply_psf_field(x, planted_field((4, 6))), x, atol=1e-6)


def test_a_crop_with_its_region_is_the_same_crop_of_the_full_blur_away_from_its_edges():
    x = torch.rand(1, 3, 80, 120, generator=torch.Generator().manual_seed(0))
    field = planted_field((4, 6))
    full = apply_psf_field(x, field)
    crop = apply_psf_field(x[..., 17:61, 33:90], field, (17, 33, 80, 120))
    assert torch.allclose(crop[..., 5:-5, 5:-5], full[..., 22:56, 38:85], atol=1e-5)


def test_planted_field_is_normalised_grows_with_radius_and_differs_per_channel():
    f = planted_field((5, 7))
    assert torch.allclose(f.sum(dim=(-2, -1)), torch.ones(5, 7, 3), atol=1e-5)
    centre, corner = f[2, 3, 1], f[0, 0, 1]
    assert centre.max() > 1.5 * corner.max()
    assert not torch.allclose(f[0, 0, 0], f[0, 0, 2], atol=1e-3)
    assert (corner - corner.flip(-2, -1)).abs().sum() > 0.1  # asymmetric off-axis
    assert (centre - centre.flip(-2, -1)).abs().sum() < 1e-5  # symmetric on-axis


def test_deep_linear_net_is_convolution_with_its_read_out_kernel():
    net = PSFFieldNet((1, 2), (5, 7), (0.1,), "deep_linear", (3, 3, 3), channels=4)
    for layer in net.layers:
        torch.nn.init.normal_(layer.weight, std=0.3)
    k = net()
    x = torch.rand(1, 1, 20, 20)
    group = 1  # node (0, 0), channel 1
    direct = x.repeat(1, net.groups, 1, 1)
    for layer in net.layers:
        direct = layer(direct)
    direct = direct + x[..., 3:-3, 3:-3].repeat(1, net.groups, 1, 1)
    expected = blur(x, k[0, 0, 1])[..., 3:-3, 3:-3]
    assert net.node_sizes.tolist() == [[7, 7]]  # both nodes lie beyond radius 0.1: no support cut
    assert torch.allclose(direct[:, group], expected[:, 0], atol=1e-5)


def test_field_file_round_trips_with_its_metadata(tmp_path):
    field = planted_field((2, 3))
    save_psf_field(tmp_path / "f.safetensors", field, {"kernel_sizes": [7, 9, 11]})
    loaded, meta = load_psf_field(tmp_path / "f.safetensors")
    assert torch.equal(loaded, field) and meta == {"kernel_sizes": [7, 9, 11]}
    assert (tmp_path / "f.safetensors").read_bytes()[:8] != b"\x80\x02\x8a\nl\xfc\x9cF"  # not a pickle
