"""Every shipped config validates; the paper configs carry the published settings."""
import inspect
from pathlib import Path

import pytest

from deflow.config import describe_schema, load_options, load_yaml_with_includes
from deflow.registry import ARCHS, MODELS, load_plugins

ROOT = Path(__file__).resolve().parents[2]
CONFS = sorted((ROOT / "confs").rglob("*.yml")) + sorted((ROOT / "deflow").rglob("confs/*.yml"))


def test_the_configs_are_found_wherever_the_tests_run():
    assert len(CONFS) >= 7 and {p.parent.name for p in CONFS} >= {"cpu", "paper", "confs"}


@pytest.mark.parametrize("path", CONFS, ids=lambda p: str(p.relative_to(ROOT)))
def test_shipped_config_validates(path):
    load_plugins()  # a model type with nothing to train (a classical pipeline) is checked as inference needs it
    opt = load_options(path, training=bool(MODELS.get(load_yaml_with_includes(path)["model_type"]).TRAINED))
    if "scale" in inspect.signature(ARCHS.get(opt["network_g"]["type"])).parameters:  # not a scale-1 DAE
        assert opt["network_g"]["scale"] == opt["scale"]


def test_paper_configs_have_the_published_numbers():
    aim, ntire, dped = (load_options(ROOT / f"confs/paper/DeFlow-{n}-RWSR.yml") for n in ("AIM", "NTIRE", "DPED"))
    assert (aim["scale"], ntire["scale"], dped["scale"]) == (8, 4, 4)
    assert [o["train"]["optim_g"]["lr"] for o in (aim, ntire, dped)] == [1e-4, 5e-5, 5e-6]
    assert [o["datasets"]["train"]["batch_size_per_gpu"] for o in (aim, ntire, dped)] == [8, 8, 48]
    assert [o["datasets"]["train"]["gt_size"] for o in (aim, ntire, dped)] == [160, 160, 80]
    assert [o["network_g"]["hidden_channels"] for o in (aim, ntire, dped)] == [128, 64, 64]
    for o in (aim, ntire, dped):
        assert o["network_g"]["L"] == 3 and o["network_g"]["K"] == 16 and o["network_g"]["split_levels"] == [1]
        assert o["train"]["scheduler"]["milestones"] == [50000, 75000, 90000, 95000]
        assert o["train"]["optim_g"]["betas"] == [0.9, 0.999] and o["train"]["total_iter"] == 100000


def test_deflow_schema_lists_network_and_dataset_keys():
    text = describe_schema("DeFlowModel")
    for key in ("network_g.std_init_shift", "network_g.split_levels", "datasets.train.dataroot_clean_gt",
                "datasets.train.normalize", "val.metrics"):
        assert key in text, key


def test_the_demo_makes_its_conditioning_with_the_h_of_its_deflow_config():
    """`make demo` writes DeFlow's conditioning folders with `create_dataset.py --h $(DEFLOW_H)` and no --h_set, so
    confs/cpu/deflow-tiny.yml's network_g.h must be that h with every key at its default; the benchmark's DeFlow
    config is the same."""
    from deflow.bench.ablate import h_section

    makefile = (ROOT / "Makefile").read_text()
    demo_h = next(line.split(":=")[1].strip() for line in makefile.splitlines() if line.startswith("DEFLOW_H :="))
    assert makefile.count("--h $(DEFLOW_H)") == 2  # the clean and the real domain's conditioning
    tiny, bench = (load_options(p)["network_g"]["h"] for p in (ROOT / "confs/cpu/deflow-tiny.yml",
                                                                ROOT / "deflow/bench/confs/deflow-bench.yml"))
    assert tiny == h_section(demo_h, None) == bench
