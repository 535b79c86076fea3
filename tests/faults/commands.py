"""The command lines of the fault suite and how each is called on a case of the bad-input corpus
(deflow/tools/bad_inputs.py). Adding a command to the suite is one entry in COMMANDS."""
import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from deflow.tools.bad_inputs import CASES


@dataclass(frozen=True)
class Command:
    """One command line: `argv(case folder, output folder, models)` gives its arguments. A "broken" case must end in
    a one-line error, a "rule" case is read by imageio's rules; `tiny` and `pairing` say what the other cases must
    give ("ok" or "error"); pairing cases a command does not read are left out."""
    name: str
    main: str
    argv: Callable[[Path, Path, dict], list]
    tiny: str = "ok"
    pairing: dict[str, str] = field(default_factory=dict)

    def outcomes(self) -> dict[str, str]:
        expected = {name: {"broken": "error", "rule": "ok"}[case.kind] for name, case in CASES.items()
                    if case.kind in ("broken", "rule")}
        assert all(CASES[name].kind == "pairing" for name in self.pairing)
        return expected | {"tiny": self.tiny} | self.pairing

    def function(self):
        module, name = self.main.split(":")
        return getattr(importlib.import_module(module), name)


def _train(case: Path, out: Path, models: dict) -> list:
    sets = [f"datasets.train.dataroot_gt={case / 'gt'}", f"datasets.train.dataroot_lq={case / 'lq'}",
            f"path.experiments_root={out}", "train.total_iter=1", "val.val_freq=null"]
    return ["-opt", models["sr_config"], *[arg for s in sets for arg in ("--set", s)]]


COMMANDS = [
    Command("deflow.train", "deflow.train:main", _train, tiny="error",
            pairing={"names_mismatch": "error", "size_mismatch": "error", "scale_mismatch": "error"}),
    Command("create_dataset.py", "deflow.tools.create_dataset:main", tiny="error",
            argv=lambda case, out, models: ["-source", case / "gt", "-target", out, "-scales", "1", "4"]),
    Command("translate.py", "deflow.tools.translate:main",
            argv=lambda case, out, models: ["--model_path", models["deflow"], "--source_dir", case / "gt",
                                            "--out_dir", out, "--device", "cpu"]),
    Command("test_sr.py", "deflow.tools.test_sr:main", tiny="error",
            argv=lambda case, out, models: ["--model_path", models["sr"], "--input", case / "lq", "--gt", case / "gt",
                                            "--out", out, "--device", "cpu", "--tile", "0"],
            pairing={"names_mismatch": "error", "size_mismatch": "error", "scale_mismatch": "error"}),
    Command("degrade.py", "degradations.cli:main",
            argv=lambda case, out, models: ["--pipeline", "white_noise", "--input", case / "gt", "--out", out,
                                            "--scale", "2"]),
    Command("python -m metrics", "metrics.cli:main", tiny="error",
            argv=lambda case, out, models: ["--pred", case / "pred", "--gt", case / "gt", "--json", out / "m.json",
                                            "--csv", out / "m.csv", "--device", "cpu"],
            pairing={"names_mismatch": "error", "size_mismatch": "error", "scale_mismatch": "ok"}),
    Command("python -m metrics.realism", "metrics.realism.cli:main", tiny="error",
            argv=lambda case, out, models: ["--real", models["good"] / "gt", "--synthetic", case / "gt", "--out", out,
                                            "--patches", "8", "--patch-size", "8", "--steps", "2"]),
    Command("bench_dasr.py", "deflow.bench.bench_dasr:main", tiny="error",
            argv=lambda case, out, models: ["--test", case / "gt", "--out", out, "--model", f"dasr={models['dasr']}",
                                            "--sigmas", "1.2", "--device", "cpu"]),
    Command("plot_dasr_repr.py", "deflow.bench.plot_dasr_repr:main", tiny="error",
            argv=lambda case, out, models: ["--model_path", models["dasr"], "--photos", case / "gt", "--reference",
                                            case / "gt", "--out", out, "--per-bin", "2", "--k", "1", "--lr-size", "8",
                                            "--embedding", "pca", "--device", "cpu"]),
    Command("psf_transfer.py fit", "deflow.psf.cli:main", tiny="error",
            argv=lambda case, out, models: ["fit", "--sharp", case / "gt", "--blurred", case / "pred", "--out", out,
                                            "--set", "train.total_iter=1", "--set", "datasets.train.crop_size=null",
                                            "--set", "network_g.grid=[1,1]", "--set", "network_g.kernel_sizes=[3,3,3]"],
            pairing={"names_mismatch": "error", "size_mismatch": "error", "scale_mismatch": "ok"}),
    Command("psf_restore.py", "sr.psf.cli:main", tiny="error",
            argv=lambda case, out, models: ["-opt", models["psf_wiener_config"], "--input", case / "lq", "--gt",
                                            case / "lq", "--out", out, "--device", "cpu"]),
    Command("burst_sr.py", "sr.multiframe.cli:main", tiny="error",
            argv=lambda case, out, models: ["--frames", case / "lq", "--out", out, "--method", "saa",
                                            "--device", "cpu"],
            pairing={"names_mismatch": "error", "size_mismatch": "ok", "scale_mismatch": "error"}),
]
