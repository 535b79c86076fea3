"""Config mutations for the fuzz test: a key deleted, a value of the wrong type, an unknown key beside it, a number
out of range (negative, zero, a fraction where a whole number belongs) or a crop larger than every image."""
import copy
from dataclasses import dataclass

from hypothesis import strategies as st

KINDS = ("delete", "wrong_type", "unknown_key", "negative", "zero", "fraction", "huge_crop")
WRONG_VALUES = ("abc", [1, 2], {"x": 1}, None, True, 3.5, -1)
CROP_KEYS = ("gt_size", "patch_size", "crop_size", "lq_size")


@dataclass(frozen=True)
class Mutation:
    path: tuple
    kind: str
    value: object = None

    def __str__(self) -> str:
        where = ".".join(map(str, self.path))
        return f"{self.kind} {where}" + ("" if self.value is None else f" = {self.value!r}")


def key_paths(tree: dict, prefix: tuple = ()) -> list[tuple]:
    """The path of every key of a nested dict, sections included."""
    paths = []
    for key, value in tree.items():
        paths.append((*prefix, key))
        if isinstance(value, dict):
            paths += key_paths(value, (*prefix, key))
    return paths


def mutations(opt: dict) -> st.SearchStrategy:
    paths = key_paths(opt)
    numeric = [p for p in paths if _get(opt, p) is not True and _get(opt, p) is not False
               and isinstance(_get(opt, p), (int, float))]
    crops = [p for p in paths if p[-1] in CROP_KEYS]
    options = [st.builds(Mutation, st.sampled_from(paths), st.just("delete")),
               st.builds(Mutation, st.sampled_from(paths), st.just("wrong_type"), st.sampled_from(WRONG_VALUES)),
               st.builds(Mutation, st.sampled_from(paths), st.just("unknown_key"), st.just("frobnicate"))]
    if numeric:
        options += [st.builds(Mutation, st.sampled_from(numeric), st.just("negative")),
                    st.builds(Mutation, st.sampled_from(numeric), st.just("zero")),
                    st.builds(Mutation, st.sampled_from(numeric), st.just("fraction"))]
    if crops:
        options.append(st.builds(Mutation, st.sampled_from(crops), st.just("huge_crop")))
    return st.one_of(options)


def _get(tree: dict, path: tuple):
    for key in path:
        tree = tree[key]
    return tree


def apply(opt: dict, mutation: Mutation) -> dict:
    opt = copy.deepcopy(opt)
    parent, key = _get(opt, mutation.path[:-1]), mutation.path[-1]
    old = parent[key]
    if mutation.kind == "delete":
        del parent[key]
    elif mutation.kind == "wrong_type":
        parent[key] = mutation.value
    elif mutation.kind == "unknown_key":
        (old if isinstance(old, dict) else parent)[mutation.value] = 1
    elif mutation.kind == "negative":
        parent[key] = -abs(old) if old else -1
    elif mutation.kind == "zero":
        parent[key] = 0 if isinstance(old, int) else 0.0
    elif mutation.kind == "fraction":
        parent[key] = old + 0.5 if isinstance(old, int) else old / 3
    elif mutation.kind == "huge_crop":
        parent[key] = 4096
    return opt
