"""Name -> object registries, filled by decorators.

    @ARCHS.register()
    class RRDBNet(nn.Module): ...

    ARCHS.get("RRDBNet")   # the class; an unknown name raises UserError with the nearest names

Modules that fill registries are imported by `load_plugins`, one at a time: a module that fails to
import disables only its own entries, and `get` names the failure instead of the whole package breaking.
"""
import importlib
import logging

from deflow.errors import UserError

log = logging.getLogger("deflow")

# Modules whose import fills the registries. Each is imported on its own (see load_plugins).
PLUGIN_MODULES = (
    "deflow.archs.rrdbnet",
    "deflow.losses",
    "deflow.data.datasets",
    "deflow.flow.deflow_net",
    "deflow.flow.h",
    "deflow.models.deflow_model",
    "sr.sr_model",
    "degradations",
    "metrics",
)

_failed_plugins: dict[str, str] = {}


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
        if name in self._entries:
            return self._entries[name]
        msg = f"unknown {self.kind} {name!r}"
        close = nearest(name, self._entries)
        if close:
            msg += f"; did you mean {close!r}?"
        else:
            msg += f"; known: {', '.join(sorted(self._entries)) or 'none'}"
        if _failed_plugins:
            msg += " (modules that failed to import: " + "; ".join(f"{m}: {e}" for m, e in _failed_plugins.items()) + ")"
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
METRICS = Registry("metric")


def load_plugins(modules=PLUGIN_MODULES) -> dict[str, str]:
    """Import every module that fills a registry; a broken one is logged and skipped, not fatal."""
    for module in modules:
        if module in _failed_plugins:
            continue
        try:
            importlib.import_module(module)
        except Exception as exc:  # isolate the failure to this module's entries
            _failed_plugins[module] = f"{type(exc).__name__}: {exc}"
            log.warning("could not import %s (%s); its entries are unavailable", module, _failed_plugins[module])
    return dict(_failed_plugins)
