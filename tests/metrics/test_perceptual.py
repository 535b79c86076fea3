"""HaarPSI through deflow equals piq's own call on the same cropped 8-bit RGB images (tolerance 1e-6), is 1 for
identical images and falls as the distortion grows; score(..., haarpsi=True) carries it, per image."""
import numpy as np
import piq
import pytest
import torch

from deflow.errors import UserError
from metrics import haarpsi, score
from tests.metrics.photos import photo_pair, to_tensor


def test_haarpsi_in_score_equals_piqs_call_on_the_cropped_8bit_images():
    pairs = [photo_pair(name, 96, 120, seed=i) for i, name in enumerate(("astronaut", "coffee", "chelsea"))]
    gt = torch.stack([to_tensor(g) for g, _ in pairs])
    pred = torch.stack([to_tensor(p) for _, p in pairs]) + 0.001  # off the 8-bit grid: the preset rounds it back
    result = score(pred, gt, "rwsr_rgb", crop_border=4, haarpsi=True)
    expected = piq.haarpsi(torch.from_numpy(np.stack([p for _, p in pairs])[:, 4:-4, 4:-4]).permute(0, 3, 1, 2) / 255.0,
                           torch.from_numpy(np.stack([g for g, _ in pairs])[:, 4:-4, 4:-4]).permute(0, 3, 1, 2) / 255.0,
                           reduction="none", data_range=1.0)
    assert result["haarpsi"].dtype == torch.float64 and result["haarpsi"].shape == (3,)
    assert torch.allclose(result["haarpsi"], expected.double(), atol=1e-6)
    assert "haarpsi" not in score(pred, gt, "rwsr_rgb", crop_border=4)


def test_haarpsi_is_one_for_identical_images_and_falls_with_the_distortion():
    gt = to_tensor(photo_pair("astronaut", 64, 64)[0])
    values = [haarpsi(to_tensor(photo_pair("astronaut", 64, 64, noise=noise)[1]), gt).item() for noise in (0, 10, 40)]
    assert values[0] == pytest.approx(1.0, abs=1e-5) and values[0] > values[1] > values[2]


def test_too_small_an_image_is_a_user_error():
    with pytest.raises(UserError, match="at least 16x16"):
        haarpsi(torch.rand(1, 3, 12, 40), torch.rand(1, 3, 12, 40))
