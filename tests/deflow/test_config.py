"""Options: includes, --set overrides, scale propagation, schema errors with suggestions, the CLI's exit 2."""
import pytest
import yaml

from deflow.config import load_options, parse_value
from deflow.errors import UserError


def write(path, data):
    path.write_text(yaml.safe_dump(data) if isinstance(data, dict) else data)
    return path


def test_valid_config_fills_defaults_and_propagates_scale(tiny_sr_config):
    opt = load_options(tiny_sr_config)
    assert opt["network_g"]["scale"] == 2
    assert opt["datasets"]["train"]["scale"] == 2 and opt["datasets"]["val"]["phase"] == "val"
    assert opt["train"]["max_nonfinite"] == 100 and opt["logger"]["keep_last"] == 3


def test_unknown_key_names_path_and_nearest_key(tiny_sr_config):
    with pytest.raises(UserError, match=r"^train\.totl_iter: unknown key; did you mean train\.total_iter\?$"):
        load_options(tiny_sr_config, ["train.totl_iter=5"])


def test_unknown_key_in_typed_section_is_checked_against_the_class(tiny_sr_config):
    with pytest.raises(UserError, match=r"network_g\.num_blok: unknown key; did you mean network_g\.num_block\?"):
        load_options(tiny_sr_config, ["network_g.num_blok=2"])
    with pytest.raises(UserError, match=r"train\.optim_g\.betaz: unknown key; did you mean train\.optim_g\.betas\?"):
        load_options(tiny_sr_config, ["train.optim_g.betaz=[0.9,0.99]"])


def test_wrong_type_names_the_expected_type(tiny_sr_config):
    with pytest.raises(UserError, match=r"train\.total_iter: expected int, got str 'many'"):
        load_options(tiny_sr_config, ["train.total_iter=many"])
    with pytest.raises(UserError, match=r"val\.metrics: expected list"):
        load_options(tiny_sr_config, ["val.metrics=psnr"])


def test_missing_file_and_missing_required_key(tmp_path, tiny_sr_config):
    with pytest.raises(UserError, match="nope.yml: config file not found"):
        load_options(tmp_path / "nope.yml")
    with pytest.raises(UserError, match=r"train\.total_iter: required key missing"):
        cfg = yaml.safe_load(tiny_sr_config.read_text())
        del cfg["train"]["total_iter"]
        load_options(write(tmp_path / "c.yml", cfg))


def test_unknown_registry_name_suggests_nearest(tiny_sr_config):
    with pytest.raises(UserError, match=r"unknown architecture 'RRDBNt'; did you mean 'RRDBNet'\?"):
        load_options(tiny_sr_config, ["network_g.type=RRDBNt"])
    with pytest.raises(UserError, match=r"unknown optimizer \(from torch.optim\) 'Adma'; did you mean 'Adam'\?"):
        load_options(tiny_sr_config, ["train.optim_g.type=Adma"])
    with pytest.raises(UserError, match=r"unknown model type 'SRModle'; did you mean 'SRModel'\?"):
        load_options(tiny_sr_config, ["model_type=SRModle"])


def test_include_merges_base_and_set_overrides_with_yaml_types(tmp_path, tiny_sr_config):
    child = write(tmp_path / "child.yml", {"include": tiny_sr_config.name, "name": "child",
                                          "train": {"total_iter": 50}})
    opt = load_options(child, ["train.optim_g.lr=1e-4", "train.grad_clip=0.5", "val.metrics=[psnr, ssim]",
                               "train.optim_g.betas=[0.8, 0.9]"])
    assert opt["name"] == "child" and opt["train"]["total_iter"] == 50      # child wins over base
    assert opt["network_g"]["num_feat"] == 8                                 # base kept
    assert opt["train"]["optim_g"]["lr"] == 1e-4 and isinstance(opt["train"]["optim_g"]["lr"], float)
    assert opt["val"]["metrics"] == ["psnr", "ssim"] and opt["train"]["optim_g"]["betas"] == [0.8, 0.9]


def test_set_can_add_a_key_that_the_file_does_not_have(tiny_sr_config):
    opt = load_options(tiny_sr_config, ["path.pretrain_network_g=/some/weights.pth"])
    assert opt["path"]["pretrain_network_g"] == "/some/weights.pth"


def test_include_cycle_is_an_error(tmp_path):
    write(tmp_path / "a.yml", "include: b.yml\nname: a\n")
    write(tmp_path / "b.yml", "include: a.yml\n")
    with pytest.raises(UserError, match="include cycle"):
        load_options(tmp_path / "a.yml")


def test_contradicting_scales_are_an_error(tiny_sr_config):
    with pytest.raises(UserError, match=r"network_g\.scale \(4\) disagrees with scale \(2\)"):
        load_options(tiny_sr_config, ["network_g.scale=4"])


def test_yaml_exponent_without_dot_is_a_float(tmp_path):
    assert parse_value("1e-4") == 1e-4 and parse_value("100") == 100 and parse_value("abc") == "abc"


def test_invalid_yaml_names_the_line(tmp_path):
    with pytest.raises(UserError, match=r"bad.yml line 2: invalid YAML"):
        load_options(write(tmp_path / "bad.yml", "name: x\n  model_type: [\n"))


def test_cli_prints_one_line_and_exits_2(cli, tiny_sr_config):
    result = cli("-m", "deflow.train", "-opt", str(tiny_sr_config), "--set", "train.totl_iter=3")
    assert result.returncode == 2
    assert result.stderr.strip() == "error: train.totl_iter: unknown key; did you mean train.total_iter?"
    assert "Traceback" not in result.stdout + result.stderr


def test_schema_lists_every_key_with_type_default_and_meaning(cli):
    result = cli("-m", "deflow.train", "--schema", "SRModel")
    assert result.returncode == 0, result.stderr
    lines = {line.split()[0]: line for line in result.stdout.splitlines() if line and not line.startswith("#")}
    assert "train.total_iter" in lines and "required" in lines["train.total_iter"]
    assert "network_g.num_block" in lines and "23" in lines["network_g.num_block"]
    assert "datasets.train.gt_size" in lines and "train.optim_g.lr" in lines and "val.metric_preset" in lines
