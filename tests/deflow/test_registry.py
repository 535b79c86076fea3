"""Registries: lookups with suggestions; plugins found, not listed (family folders walked, the deflow.plugins entry
point group read); a broken plugin disables only itself; the ground packages import nothing of the framework."""
import json
import textwrap

import pytest

from deflow.errors import UserError
from deflow.registry import Registry


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


def test_built_in_families_are_discovered_by_walking_the_packages():
    from deflow.registry import ARCHS, DATASETS, LOSSES, MODELS, family_modules, load_plugins

    assert load_plugins() == {}
    modules = family_modules("deflow") + family_modules("sr")
    assert "sr.pixel.model" in modules and "sr.losses" in modules and "deflow.archs.rrdbnet" in modules
    assert not [m for m in modules if m.startswith(("deflow.tools", "deflow.bench")) or m.count(".") == 1
                and m.startswith("deflow.") and m.split(".")[1] in ("trainer", "config", "train")]
    assert {"SRModel", "DeFlowModel"} <= set(MODELS.names()) and "RRDBNet" in ARCHS
    assert "L1Loss" in LOSSES and "PairedImageDataset" in DATASETS


def run_with_plugins(cli, tmp_path, code: str):
    """Run `code` in a fresh interpreter that sees an installed distribution (a .dist-info on sys.path) declaring
    two deflow.plugins entry points: a working module and a broken one. Nothing is installed."""
    (tmp_path / "my_arch.py").write_text(textwrap.dedent("""
        from torch import nn
        from deflow.registry import ARCHS

        @ARCHS.register()
        class MyPluginNet(nn.Module):
            def __init__(self, width: int = 4):
                super().__init__()
    """))
    (tmp_path / "my_broken.py").write_text("import no_such_dependency_for_deflow\n")
    info = tmp_path / "my_plugins-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: my-plugins\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[deflow.plugins]\nmine = my_arch\nbroken = my_broken\n")
    return cli("-c", f"import sys; sys.path.insert(0, {str(tmp_path)!r})\n" + textwrap.dedent(code))


def test_an_entry_point_registers_a_plugin_and_a_broken_one_disables_only_itself(cli, tmp_path):
    result = run_with_plugins(cli, tmp_path, """
        import json
        from deflow.config import describe_schema
        from deflow.errors import UserError
        from deflow.registry import ARCHS, MODELS, load_plugins
        failed = load_plugins()
        try:
            ARCHS.get("NoSuchNet")
        except UserError as exc:
            missing = str(exc)
        print(json.dumps({"failed": failed, "archs": ARCHS.names(), "models": MODELS.names(), "missing": missing,
                          "schema": describe_schema("SRModel").splitlines()[:3]}))
    """)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert list(out["failed"]) == ["broken (my_broken)"] and "no_such_dependency_for_deflow" in out["failed"]["broken (my_broken)"]
    assert "MyPluginNet" in out["archs"] and "RRDBNet" in out["archs"] and "SRModel" in out["models"]
    assert "my_broken" in out["missing"]
    assert any("plugin not loaded" in line and "my_broken" in line for line in out["schema"])


def test_a_broken_family_module_disables_only_its_own_entries(cli, tmp_path):
    """As when a dependency of one family breaks on import (BasicSR #533): one module of a family package fails."""
    family = tmp_path / "my_family"
    family.mkdir()
    (family / "__init__.py").write_text("")
    (family / "good.py").write_text("from deflow.registry import LOSSES\n@LOSSES.register('MyGoodLoss')\nclass G: pass\n")
    (family / "bad.py").write_text("raise ImportError('simulated broken dependency')\n")
    result = cli("-c", textwrap.dedent(f"""
        import sys; sys.path.insert(0, {str(tmp_path)!r})
        import deflow.registry as registry
        registry.FAMILY_PACKAGES = (*registry.FAMILY_PACKAGES, "my_family")
        failed = registry.load_plugins()
        print(sorted(failed)); print("MyGoodLoss" in registry.LOSSES, "SRModel" in registry.MODELS)
    """))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-2:] == ["['my_family.bad']", "True True"]


def test_the_ground_packages_import_nothing_of_the_framework(cli):
    code = textwrap.dedent("""
        import pkgutil, importlib, sys
        import degradations, metrics
        for package in (degradations, metrics):
            for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
                if not info.name.endswith("__main__"):
                    importlib.import_module(info.name)
        print(sorted(m for m in sys.modules if m == "sr" or m.startswith(("deflow", "sr."))))
    """)
    result = cli("-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == ("['deflow', 'deflow.checkpoint', 'deflow.devices', 'deflow.errors', "
                                                      "'deflow.imageio', 'deflow.outputs', 'deflow.registry']")
