"""Tiled inference equals whole-image inference for a local operator, at any image size."""
import pytest
import torch
import torch.nn.functional as F

from deflow.tiling import apply_tiled, pad_to_multiple


@pytest.mark.parametrize("join", ["ramp", "cut"])
@pytest.mark.parametrize("size", [(37, 53), (64, 64), (101, 77)])
def test_tiles_reproduce_a_pointwise_upscaler_exactly(size, join):
    image = torch.rand(1, 3, *size)
    upscale = lambda x: F.interpolate(x, scale_factor=2, mode="nearest") * 0.5 + 0.1  # noqa: E731
    whole = upscale(image)
    tiled = apply_tiled(upscale, image, tile=24, overlap=6, scale=2, join=join)
    assert tiled.shape == whole.shape
    assert torch.allclose(tiled, whole, atol=1e-6)


@pytest.mark.parametrize("join", ["ramp", "cut"])
@pytest.mark.parametrize("size", [(20, 90), (90, 20), (101, 77)])  # one tile row, one tile column, many of both
def test_an_8_bit_output_is_the_float_output_as_a_file_stores_it(size, join):
    torch.manual_seed(0)
    image = torch.rand(1, 3, *size)
    def blur(x):
        return F.interpolate(F.avg_pool2d(x, 3, 1, 1, count_include_pad=False), scale_factor=2) * 3 - 1
    floats = apply_tiled(blur, image, tile=24, overlap=6, scale=2, join=join)
    bytes_ = apply_tiled(blur, image, tile=24, overlap=6, scale=2, join=join, dtype=torch.uint8)
    assert bytes_.dtype == torch.uint8 and bytes_.shape == floats.shape
    assert torch.equal(bytes_, floats.clamp(0, 1).mul(255).round().to(torch.uint8))
    assert float(floats.min()) < 0 < 1 < float(floats.max())  # the clamp mattered


def test_overlap_hides_the_border_error_of_a_convolution():
    """A 3x3 blur with zero padding is wrong at tile edges; overlap blending keeps the error far from them."""
    torch.manual_seed(0)
    image = torch.rand(1, 1, 80, 80)
    blur = lambda x: F.conv2d(x, torch.full((1, 1, 3, 3), 1 / 9), padding=1)  # noqa: E731
    whole = blur(image)
    no_overlap = apply_tiled(blur, image, tile=20, overlap=0)
    blended = apply_tiled(blur, image, tile=20, overlap=8)
    inner = (slice(None), slice(None), slice(1, -1), slice(1, -1))
    assert (blended - whole)[inner].abs().max() < 0.5 * (no_overlap - whole)[inner].abs().max()


def test_cut_join_keeps_the_noise_level_of_a_stochastic_function_where_ramps_lower_it():
    """Each tile call draws new noise; a linear blend of two draws has less variance than either (DeFlow's seams)."""
    generator = torch.Generator().manual_seed(0)
    noisy = lambda x: x + torch.randn(x.shape, generator=generator)  # noqa: E731
    image = torch.zeros(1, 1, 200, 200)
    band = (slice(None), slice(None), slice(None), slice(24, 40))  # the overlap of the first two tiles (0-40, 24-64)
    ramp = apply_tiled(noisy, image, tile=40, overlap=16, join="ramp")
    cut = apply_tiled(noisy, image, tile=40, overlap=16, join="cut")
    assert float(ramp[band].std()) < 0.85
    assert float(cut[band].std()) == pytest.approx(1, abs=0.05)
    assert float(cut.std()) == pytest.approx(1, abs=0.02)


def test_pad_to_multiple_pads_bottom_right_only():
    x = torch.arange(20.0).reshape(1, 1, 4, 5)
    padded, ph, pw = pad_to_multiple(x, 4)
    assert padded.shape[-2:] == (4, 8) and (ph, pw) == (0, 3)
    assert torch.equal(padded[..., :4, :5], x)
