"""imresize against a float64 NumPy reference written from MATLAB's documented definition:
Keys cubic (a = -0.5), kernel h(x) = s * cubic(s * x) with support 4 / s when shrinking by s < 1,
input coordinate u = (i + 0.5) / s - 0.5 (0-based), weights normalised to sum 1, and symmetric padding
(edge sample repeated). The reference pads the array and sums over every input sample, which is a
different computation from the module's index-mirroring tap tables."""
import math

import numpy as np
import pytest
import torch

from degradations.resize import imresize, resize


def keys_cubic(x: np.ndarray) -> np.ndarray:
    ax = np.abs(x)
    return np.where(ax <= 1, 1.5 * ax ** 3 - 2.5 * ax ** 2 + 1,
                    np.where(ax <= 2, -0.5 * ax ** 3 + 2.5 * ax ** 2 - 4 * ax + 2, 0.0))


def reference_resize_axis(a: np.ndarray, out_len: int, s: float) -> np.ndarray:
    """Resize axis 0 of a 2-D float64 array."""
    width = 4 / s if s < 1 else 4
    margin = int(math.ceil(width)) + 2
    padded = np.pad(a, ((margin, margin), (0, 0)), mode="symmetric")
    positions = np.arange(padded.shape[0]) - margin
    out = np.empty((out_len, a.shape[1]))
    for i in range(out_len):
        u = (i + 0.5) / s - 0.5
        w = s * keys_cubic(s * (u - positions)) if s < 1 else keys_cubic(u - positions)
        out[i] = (w / w.sum()) @ padded
    return out


def reference_imresize(a: np.ndarray, out_shape: tuple[int, int], scales: tuple[float, float]) -> np.ndarray:
    rows = reference_resize_axis(a, out_shape[0], scales[0])
    return reference_resize_axis(rows.T, out_shape[1], scales[1]).T


@pytest.mark.parametrize("shape,scale", [((8, 8), 0.5), ((12, 10), 0.25), ((9, 7), 1 / 3), ((5, 6), 2.0),
                                         ((7, 7), 0.75)])
def test_imresize_matches_the_matlab_formula_reference_for_a_scale(shape, scale):
    a = np.random.default_rng(0).random(shape)
    out_shape = (math.ceil(shape[0] * scale), math.ceil(shape[1] * scale))
    ours = imresize(torch.from_numpy(a)[None], scale)[0].numpy()
    assert ours.shape == out_shape
    assert np.abs(ours - reference_imresize(a, out_shape, (scale, scale))).max() < 1e-12


def test_imresize_to_a_size_uses_per_axis_scales():
    a = np.random.default_rng(1).random((10, 9))
    ours = imresize(torch.from_numpy(a)[None, None], size=(4, 6))[0, 0].numpy()
    assert np.abs(ours - reference_imresize(a, (4, 6), (0.4, 6 / 9))).max() < 1e-12


def test_imresize_without_antialias_matches_octave_output():
    # GNU Octave image package (whose imresize follows MATLAB's algorithm), values recorded in a public
    # Octave script: imresize(transpose(reshape(0:15, 4, 4)), 0.5, 'bicubic', 'AntiAliasing', false).
    a = torch.arange(16, dtype=torch.float64).reshape(1, 4, 4)
    expected = torch.tensor([[2.1875, 4.3125], [10.6875, 12.8125]], dtype=torch.float64)
    assert torch.allclose(imresize(a, 0.5, antialias=False)[0], expected, atol=1e-12)


def test_imresize_by_half_keeps_a_constant_image_constant():
    x = torch.full((2, 3, 17, 24), 0.3712)
    y = imresize(x, 0.5)
    assert y.shape == (2, 3, 9, 12)
    assert (y - 0.3712).abs().max() < 1e-6


def test_imresize_keeps_rank_and_batches_like_single_images():
    x = torch.rand(3, 3, 20, 16)
    batched = imresize(x, 0.5)
    assert imresize(x[0], 0.5).shape == (3, 10, 8)
    assert torch.allclose(batched[1], imresize(x[1], 0.5), atol=1e-6)


@pytest.mark.parametrize("mode", ["area", "bilinear", "bicubic", "nearest", "imresize"])
def test_resize_modes_reach_the_requested_size(mode):
    assert resize(torch.rand(2, 3, 24, 20), size=(7, 11), mode=mode).shape == (2, 3, 7, 11)
    assert resize(torch.rand(2, 3, 24, 20), scale=0.5, mode=mode).shape == (2, 3, 12, 10)
