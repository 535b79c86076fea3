import pytest
import torch
import yaml

from deflow.errors import UserError
from deflow.registry import DEGRADATIONS
from degradations.pipeline import Pipeline, preset_names
from degradations.sampling import resolve, sample

HR = torch.rand(3, 3, 48, 48, generator=torch.Generator().manual_seed(0))


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("name", preset_names())
@pytest.mark.parametrize("scale", [2, 4])
def test_every_preset_maps_hr_to_lr_of_the_right_size_in_unit_range(name, scale):
    lr = Pipeline.from_name_or_file(name, scale)(HR, seeded(0))
    assert lr.shape == (3, 3, 48 // scale, 48 // scale)
    assert lr.dtype == torch.float32 and lr.min() >= 0 and lr.max() <= 1


def test_presets_include_the_published_pipelines():
    assert {"realesrgan", "bsrgan", "dasr_iso", "dasr_aniso_noise", "bicubic", "white_noise"} <= set(preset_names())


@pytest.mark.parametrize("name", ["realesrgan", "bsrgan", "dasr_aniso_noise"])
def test_same_seed_reproduces_bit_for_bit_and_another_seed_differs(name):
    pipeline = Pipeline.from_name_or_file(name, 4)
    first = pipeline(HR, seeded(7))
    assert torch.equal(first, pipeline(HR, seeded(7)))
    assert not torch.equal(first, pipeline(HR, seeded(8)))


def test_bicubic_preset_is_matlab_imresize():
    from degradations.resize import imresize

    assert torch.allclose(Pipeline.from_name_or_file("bicubic", 2)(HR, seeded(0)), imresize(HR, 0.5).clamp(0, 1))


def test_probability_is_drawn_per_image_and_unselected_images_are_untouched():
    pipeline = Pipeline([{"op": "gaussian_noise", "prob": 0.5, "params": {"sigma": 20.0}}], scale=1)
    x = torch.full((64, 3, 8, 8), 0.5)
    changed = (pipeline(x, seeded(0)) != x).flatten(1).any(dim=1)
    assert 16 < int(changed.sum()) < 48


def test_param_specs_draw_ranges_choices_and_weights():
    g = seeded(0)
    ints = {sample(resolve([7, 9], 4, "t"), g, integer=True) for _ in range(200)}
    assert ints == {7, 8, 9}
    floats = [sample([0.5, 1.5], g) for _ in range(200)]
    assert all(0.5 <= v <= 1.5 for v in floats) and len(set(floats)) == 200
    weighted = [sample(resolve({"choices": ["a", "b"], "weights": [0.9, 0.1]}, 4, "t"), g) for _ in range(1000)]
    assert 850 < weighted.count("a") < 950
    assert resolve({"by_scale": {2: [0.2, 2.0], 4: [0.2, 4.0]}}, 4, "t") == [0.2, 4.0]
    logs = [sample(resolve({"log_uniform": [1e-4, 1e-2]}, 4, "t"), g) for _ in range(1000)]
    assert 400 < sum(v < 1e-3 for v in logs) < 600


def test_shuffle_keeps_the_relative_order_of_keep_order_items():
    pipeline = Pipeline([{"shuffle": [{"op": "quantize"}] * 5, "keep_order": [1, 3]}], scale=1)
    shuffle = pipeline.steps[0]
    seen = []
    shuffle.items = [lambda x, ctx, i=i: seen.append(i) or x for i in range(5)]
    orders = set()
    for seed in range(30):
        seen.clear()
        pipeline(HR, seeded(seed))
        assert seen.index(1) < seen.index(3)
        orders.add(tuple(seen))
    assert len(orders) > 5


@pytest.mark.parametrize("bad,message", [
    ("realesrgn", "did you mean 'realesrgan'"),
    ([{"op": "blurr"}], "did you mean 'blur'"),
    ([{"op": "blur", "params": {"sigmax": 1.0}}], "did you mean 'sigma_x'"),
    ([{"op": "blur", "prob": 2}], "prob must be a number in [0, 1]"),
    ([{"op": "blur", "params": {"sigma_x": {"by_scale": {2: [0.2, 2.0]}}}}], "no entry for scale 4"),
    ([{"shuffle": [{"op": "blur"}], "keep_order": [3]}], "keep_order"),
    ([{"blur": 1}], "exactly one of 'op', 'shuffle', 'one_of'"),
    ([{"op": "jpeg"}], "expected 12x12"),
])
def test_bad_pipelines_raise_user_errors_that_name_the_problem(bad, message):
    with pytest.raises(UserError, match=None) as info:
        pipeline = Pipeline.from_name_or_file(bad, 4) if isinstance(bad, str) else Pipeline(bad, 4)
        pipeline(HR, seeded(0))
    assert message in str(info.value)


def test_bad_yaml_file_raises_user_error_naming_the_file(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("steps: [ {op: blur\n")
    with pytest.raises(UserError, match="broken.yaml: invalid YAML"):
        Pipeline.from_name_or_file(path, 2)
    with pytest.raises(UserError, match="not found"):
        Pipeline.from_name_or_file(tmp_path / "missing.yaml", 2)


def test_a_yaml_file_pipeline_equals_the_same_steps_given_in_python(tmp_path):
    steps = [{"op": "blur", "params": {"kernel": ["iso", "aniso"], "sigma_x": [0.5, 2.0], "theta": [0, 3.14]}},
             {"op": "resize", "params": {"relative_to": "lr", "mode": "imresize"}}]
    path = tmp_path / "mine.yml"
    path.write_text(yaml.safe_dump({"description": "test", "steps": steps}))
    assert torch.equal(Pipeline.from_name_or_file(path, 2)(HR, seeded(3)), Pipeline(steps, 2)(HR, seeded(3)))


def test_pipeline_ops_are_registered_in_degradations_registry():
    for name in ["blur", "resize", "gaussian_noise", "poisson_noise", "jpeg", "quantize", "sensor_noise", "psf_blur"]:
        assert name in DEGRADATIONS


def test_sensor_noise_and_psf_steps_run_in_a_pipeline():
    steps = [{"op": "psf_blur", "params": {"field": ["radial", "coma"], "grid": 3, "size": 9}},
             {"op": "sensor_noise", "params": {"camera": ["brooks", "chen_phone"], "mosaic": [True, False]}},
             {"op": "resize", "params": {"relative_to": "lr", "mode": "area"}}]
    pipeline = Pipeline(steps, 2)
    out = pipeline(HR, seeded(0))
    assert out.shape == (3, 3, 24, 24) and torch.equal(out, pipeline(HR, seeded(0)))
