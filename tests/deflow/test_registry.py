"""Registries: lookups with suggestions; a broken plugin module disables only itself."""
import pytest

from deflow.errors import UserError
from deflow.registry import Registry, load_plugins


def test_get_returns_registered_and_suggests_nearest():
    reg = Registry("widget")

    @reg.register()
    class Sprocket:
        pass

    assert reg.get("Sprocket") is Sprocket
    with pytest.raises(UserError, match=r"unknown widget 'Sprocet'; did you mean 'Sprocket'\?"):
        reg.get("Sprocet")
    with pytest.raises(ValueError, match="registered twice"):
        reg.register("Sprocket")(object)


def test_broken_plugin_is_isolated_and_named(tmp_path, monkeypatch):
    (tmp_path / "good_plugin.py").write_text(
        "from deflow.registry import LOSSES\n@LOSSES.register('GoodLossForTest')\nclass G: pass\n")
    (tmp_path / "broken_plugin.py").write_text("import torchvision.transforms.functional_tensor\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    failed = load_plugins(("broken_plugin", "good_plugin"))
    assert "broken_plugin" in failed and "functional_tensor" in failed["broken_plugin"]
    from deflow.registry import LOSSES
    assert "GoodLossForTest" in LOSSES
    with pytest.raises(UserError, match="broken_plugin"):
        LOSSES.get("NoSuchLoss")


def test_import_deflow_survives_a_broken_optional_package(cli):
    """As when a dependency of one package breaks on import (BasicSR #533): here `metrics` raises."""
    code = (
        "import sys\n"
        "class Broken:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'metrics':\n"
        "            raise ImportError('simulated broken dependency')\n"
        "sys.meta_path.insert(0, Broken())\n"
        "import deflow\n"
        "from deflow.registry import load_plugins, ARCHS, MODELS\n"
        "failed = load_plugins()\n"
        "print(sorted(failed)); print(ARCHS.names()); print(MODELS.names())\n"
    )
    result = cli("-c", code)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "['metrics']" and "RRDBNet" in lines[1] and "SRModel" in lines[2]
