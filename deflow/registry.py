"""Name -> object registries, filled by decorators.

    @ARCHS.register()
    class RRDBNet(nn.Module): ...

    ARCHS.get("RRDBNet")   # the class; an unknown name raises UserError with the nearest names

Nothing lists the modules that register: `load_plugins` imports every module of the built-in families (the
subpackages of `deflow` but its commands, and all of `sr`), the ground package `degradations` (its pipeline operations),
and whatever installed packages declare in the `deflow.plugins` entry-point group:

    # a user's pyproject.toml
    [project.entry-points."deflow.plugins"]
    my_net = "my_package.my_net"       # a module whose import runs its @ARCHS.register() decorators

Each is imported on its own: one that fails disables only its own entries, and `get` names the failure.
This module imports nothing of deflow but `deflow.errors`, so `degradations` and `metrics` can register here.
"""
import importlib
import importlib.metadata
import logging
import pkgutil

from deflow.errors import UserError

log = logging.getLogger("deflow")

ENTRY_POINT_GROUP = "deflow.plugins"
FAMILY_PACKAGES = ("deflow", "sr")
COMMAND_PACKAGES = ("deflow.tools", "deflow.bench")  # command lines and experiments: they register nothing
GROUND_PACKAGES = ("degradations",)

failed_plugins: dict[str, str] = {}  # module or entry point -> why it could not be imported
_loaded_entry_points: set[str] = set()


def nearest(name: str, candidates) -> str | None:
    """The candidate closest to `name` by edit distance (a swap of neighbours counts once), if close enough."""
    def distance(a: str, b: str) -> int:
        a, b = a.lower(), b.lower()
        d = [[i + j if i * j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
        for i in range(1, len(a) + 1):
            for j in range(1, len(b) + 1):
                d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
                if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                    d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
        return d[-1][-1]

    scored = sorted((distance(name, c), c) for c in candidates)
    if scored and scored[0][0] <= max(2, len(name) // 3):
        return scored[0][1]
    return None


class Registry:
    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, object] = {}

    def register(self, name: str | None = None):
        def add(obj):
            key = name or obj.__name__
            if key in self._entries and self._entries[key] is not obj:
                raise ValueError(f"{self.kind} {key!r} is registered twice")
            self._entries[key] = obj
            return obj
        return add

    def get(self, name: str):
        if not isinstance(name, str):
            raise UserError(f"expected the name of a registered {self.kind}, got {type(name).__name__} {name!r}; "
                            f"known: {', '.join(sorted(self._entries)) or 'none'}")
        if name in self._entries:
            return self._entries[name]
        msg = f"unknown {self.kind} {name!r}"
        close = nearest(name, self._entries)
        if close:
            msg += f"; did you mean {close!r}?"
        else:
            msg += f"; known: {', '.join(sorted(self._entries)) or 'none'}"
        if failed_plugins:
            msg += f" (plugins that failed to import: {describe_failures()})"
        raise UserError(msg)

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        return name in self._entries


ARCHS = Registry("architecture")
MODELS = Registry("model type")
DATASETS = Registry("dataset type")
LOSSES = Registry("loss")
H_FUNCTIONS = Registry("domain-invariant function h")
DEGRADATIONS = Registry("degradation")


def describe_failures() -> str:
    return "; ".join(f"{name}: {reason}" for name, reason in failed_plugins.items())


def _record_failure(name: str, exc: Exception) -> None:
    failed_plugins[name] = f"{type(exc).__name__}: {exc}"
    log.warning("could not import %s (%s); its entries are unavailable", name, failed_plugins[name])


def _import(name: str):
    """The module, or None when its import failed (recorded, not raised; a failed module is not retried)."""
    if name in failed_plugins:
        return None
    try:
        return importlib.import_module(name)
    except Exception as exc:  # isolate the failure to this module's entries
        _record_failure(name, exc)
        return None


def family_modules(package: str) -> list[str]:
    """Every module below `package`, depth first, without the command packages. A package whose __init__ fails
    to import is recorded and not entered."""
    module = _import(package)
    if module is None or not hasattr(module, "__path__"):
        return []
    found = []
    for info in pkgutil.iter_modules(module.__path__, prefix=f"{package}."):
        if info.name in COMMAND_PACKAGES:
            continue
        if package == "deflow" and not info.ispkg:
            continue  # deflow's own top-level modules are the framework: they register nothing
        found.append(info.name)
        if info.ispkg:
            found += family_modules(info.name)
    return found


def load_plugins() -> dict[str, str]:
    """Import every module that fills a registry (see the module docstring); returns the failures so far."""
    for package in FAMILY_PACKAGES:
        for name in family_modules(package):
            _import(name)
    for package in GROUND_PACKAGES:
        _import(package)
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        label = f"{entry.name} ({entry.value})"
        if label in _loaded_entry_points or label in failed_plugins:
            continue
        try:
            entry.load()
        except Exception as exc:
            _record_failure(label, exc)
            continue
        _loaded_entry_points.add(label)
    return dict(failed_plugins)
