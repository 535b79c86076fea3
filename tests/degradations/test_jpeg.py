import torch

from degradations.jpeg import jpeg, quantize
from tests.degradations.conftest import psnr


def test_jpeg_changes_the_image_and_is_near_lossless_at_quality_100(crops):
    assert not torch.equal(jpeg(crops, 50), quantize(crops))
    assert psnr(jpeg(crops, 100, subsampling="444"), crops) > 45
    gray = crops.mean(dim=1, keepdim=True).expand_as(crops)  # no colour detail for 4:2:0 to lose
    assert psnr(jpeg(gray, 100), gray) > 45
    assert psnr(jpeg(crops, 100), crops) > 38


def test_jpeg_quality_per_image_matches_compressing_each_image_alone(crops):
    qualities = torch.tensor([20, 50, 80, 95])
    batched = jpeg(crops, qualities)
    for i, q in enumerate(qualities.tolist()):
        assert torch.equal(batched[i:i + 1], jpeg(crops[i:i + 1], q))
    assert psnr(batched[0], crops[0]) < psnr(batched[3], crops[3])


def test_quantize_rounds_to_the_nearest_of_255_levels_and_clamps():
    x = torch.tensor([-0.2, 0.0, 0.5, 1.0 / 255 * 0.49, 1.3])
    assert torch.equal(quantize(x), torch.tensor([0.0, 0.0, 128 / 255, 0.0, 1.0]))
    per_image = quantize(torch.full((2, 1, 1, 1), 0.31), torch.tensor([1, 8]))
    assert torch.allclose(per_image.flatten(), torch.tensor([0.0, 79 / 255]))
