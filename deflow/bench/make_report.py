"""docs/report.md and docs/figures/: the findings report, written from the latest result files, never by hand.

    python scripts/make_report.py [--bench docs/results/default]
        [--arms docs/results/default/ablation docs/results/default/ablation2] [--ablation docs/results/h_ablation]
        [--finetune docs/results/finetune] [--incidents docs/results/incidents] [--burst docs/results/burst]
        [--out docs]

Each input is the folder a command wrote its result file into (INPUTS: the file and the command that makes it):
the camera benchmark (BENCH/results.json, and for the figures BENCH/figures/ and BENCH/realism/, which its run made:
the report reads nothing under BENCH/runs/), one or more benchmark runs of DeFlow's ablation arms (ARMS/results.json,
each compared with the references of its own run), the h ablation (ABLATION/h_ablation.json and its figure), the
task's fine-tuning protocol (FINETUNE/finetune.json), the training incidents (INCIDENTS/incidents.json) and the
burst benchmark (BURST/results.json). A missing or unreadable one
stops the report with one line naming the file and the command that makes it (exit 2), and --out stays as it was: the
report never carries stale numbers. The report and its figures are written into a hidden folder inside --out, then
replace OUT/report.md and OUT/figures/ (the report owns that folder).

Numbers in the report: every number printed in OUT/report.md is a value of a result file that its section's Source
line names (also a number written inside one of its strings or keys), 100 times one where it is a percentage, an
aggregate of one of its lists (mean, minimum, maximum) or, printed with a sign, the difference of two sibling means
(one score of two methods, arms, h's or burst methods), rounded as printed. Not numbers of the report: fenced blocks
other than the mermaid diagrams, code spans, link targets, and digits that are part of a word (`x2`, `C2ST`, `L1`).
tests/deflow/bench/test_make_report.py checks it.
"""
import argparse
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from deflow.bench import report_text as text
from deflow.bench.benchmark import CONFIGS, Budget
from deflow.bench.methods import METHODS
from deflow.bench.report_figures import present
from deflow.config import load_options
from deflow.errors import UserError, user_errors_exit_2
from deflow.outputs import output_folder, remove_abandoned_stages


@dataclass(frozen=True)
class Input:
    """A result file of the report: its flag, default folder (or folders, where the flag takes several), file name,
    the command that makes it ({dir}: the folder; `recorded`: the file names its command in run.command) and the
    top-level keys the report reads."""
    flag: str
    default: str | tuple[str, ...]
    file: str
    command: str
    keys: tuple[str, ...]
    recorded: bool = True

    @property
    def many(self) -> bool:
        return isinstance(self.default, tuple)


INPUTS = (
    Input("bench", "docs/results/default", "results.json", "python scripts/benchmark.py --out {dir}",
          ("run", "settings", "summary", "ablation", "oracle_minus_bicubic_psnr", "realism_page", "figures")),
    Input("arms", ("docs/results/default/ablation", "docs/results/default/ablation2"), "results.json",
          "python scripts/benchmark.py --ablation --out {dir}", ("run", "settings", "summary", "ablation")),
    Input("ablation", "docs/results/h_ablation", "h_ablation.json", "python scripts/ablate.py --out {dir}",
          ("run", "settings", "reference", "rows", "figure")),
    Input("finetune", "docs/results/finetune", "finetune.json",
          "python scripts/finetune_protocol.py --bench BENCH --out {dir}",
          ("run", "settings", "arms")),
    Input("incidents", "docs/results/incidents", "incidents.json",
          "python scripts/training_incidents.py --out {dir}",
          ("run", "incidents")),
    Input("burst", "docs/results/burst", "results.json",
          "python scripts/bench_burst.py --out {dir} --sr-model SR.pth --hybrid-model HYBRID.pth",
          ("scores", "seconds", "registration_error_px", "corrupted"), recorded=False),
)
RECORDS = {"rows": ("h", "section", "what", "psnr", "ssim", "gap_closed_psnr", "gap_closed_ssim", "akld_vs_camera",
                    "nlf_distance_8bit", "nll_clean", "nll_degraded", "nll_units", "h_gap", "h_gap_units",
                    "deflow_train_seconds"),
           "arms": ("arm", "what", "psnr", "ssim", "lpips", "seconds"),
           "incidents": ("name", "what_happened", "what_the_framework_does", "code", "evidence")}


def load(spec: Input, folder: Path) -> text.Result:
    """The result file of `spec` in `folder`, checked for what the report reads."""
    path = folder / spec.file
    make = spec.command.format(dir=folder)
    if not path.is_file():
        raise UserError(f"{path}: missing; make it with `{make}` (the report takes every number from it)")
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: not a readable result file ({exc}); make it again with `{make}`") from None
    missing = [key for key in spec.keys if key not in data] if isinstance(data, dict) else list(spec.keys)
    if spec.recorded and not missing and "command" not in data["run"]:
        missing.append("run.command")
    for key, fields in RECORDS.items():
        if key in spec.keys and not missing:
            if not data[key]:
                missing.append(f"{key} (empty)")
            missing += sorted({f"{key}[].{f}" for record in data[key] for f in fields if f not in record})
    if spec.flag in ("bench", "arms") and not missing and data.get("partial"):
        missing.append("a finished run")
    if spec.flag == "arms" and not missing and not set(data["ablation"]) & set(data["summary"]):
        missing.append("scores of DeFlow's ablation arms (--ablation, or --methods with arms)")
    if spec.flag == "burst" and not missing and "single-frame SR" not in data["scores"]:
        missing.append("scores of single-frame SR (--sr-model)")
    if missing:
        raise UserError(f"{path}: lacks {', '.join(missing)}; make it again with `{make}`")
    recorded = spec.recorded or "command" in data.get("run", {})
    return text.Result(path, data, data["run"]["command"] if recorded else make, recorded)


def method_key(settings: dict, method: str) -> str:
    """The folder name under BENCH/runs/{lr,eval,sr}/ of a benchmark method, as the benchmark names it."""
    folder = METHODS[method].folder if method in METHODS else None
    if folder is None:
        return method
    budget = Budget(settings["deflow_iters"], settings["sr_iters"], tuple(settings["seeds"]),
                    settings["c2st"]["patches_per_class"], settings["c2st"]["steps"],
                    settings.get("deflow_seeds", 1), settings.get("deflow_heat", "auto"),
                    settings.get("deflow_candidates", 1))
    return folder(budget)


def realism_figures(bench: text.Result, keys: dict[str, str], figures: Path) -> list[tuple[str, str]]:
    """The realism page's crops of the real LR and of each method in `keys` ({method: its folder key}), its
    noise-level and spectrum plots, copied into `figures`; returns [(file, caption)]."""
    if not bench.data["realism_page"]:
        raise UserError(f"{bench.path}: names no realism page; rerun `{bench.command}`")
    page = (bench.path.parent / bench.data["realism_page"]).parent
    realism = json.loads(present(page / "realism.json", bench.command).read_text())
    strips = {"real": "crops_0.png"}  # then one strip per synthetic set, in its order
    for i, entry in enumerate(realism["synthetic"], 1):
        key = Path(entry["folder"]).relative_to(Path(realism["settings"]["real"]).parent).parts[0]
        strips.update({m: f"crops_{i}.png" for m, k in keys.items() if k == key})
    out = []
    for name, file in strips.items():
        shutil.copyfile(present(page / file, bench.command), figures / f"realism_crops_{name}.png")
        out.append((f"figures/realism_crops_{name}.png", f"{name}: the flattest crop of each image, enlarged "
                                                          "(the realism page's crops)"))
    for file, caption in (("realism_nlf.png", "noise std against intensity per channel, real against each method"),
                          ("realism_spectrum.png", "power spectra of the high-pass residuals, real against each "
                                                   "method")):
        shutil.copyfile(present(page / file, bench.command), figures / file)
        out.append((f"figures/{file}", caption))
    return out


CAPTIONS = {"sr_crops": "centre crops of the test photos: the camera's LR (the real LR, enlarged), its bicubic "
                         "interpolation, the SR network of each method (first seed; trained on the method's pairs, "
                         "or blind where the method has no pairs), the ground truth",
            "lr_crops": "the clean training photos' LR: bicubic (the clean domain), DeFlow's translation (first "
                        "seed) and the camera's own LR of the same photo, which no method sees"}


def bench_figures(bench: text.Result, figures: Path) -> tuple[list[tuple[str, str]], str]:
    """The benchmark's figures (BENCH/figures/, made by its run) and the realism page's, copied into `figures`;
    returns [(file, caption)] of the results section, and the training curves' file."""
    d, root = bench.data, bench.path.parent
    missing = sorted({"sr_crops", "training_curves"} - set(d["figures"]))
    if missing:
        raise UserError(f"{bench.path}: names no {', '.join(missing)} figure; rerun `{bench.command}`")
    for name, path in d["figures"].items():
        shutil.copyfile(present(root / path, bench.command), figures / f"{name}.png")
    out = [(f"figures/{name}.png", caption) for name, caption in CAPTIONS.items() if name in d["figures"]]
    methods = [m for m in d["summary"] if m not in d["ablation"]]
    out += realism_figures(bench, {m: method_key(d["settings"], m) for m in methods}, figures)
    return out, "figures/training_curves.png"


def packaged_h() -> str:
    """The h of the camera benchmark's packaged DeFlow config (the default)."""
    return load_options(CONFIGS["deflow"])["network_g"]["h"]["type"]


def markdown(results: dict[str, text.Result], figures: Path, command: str) -> str:
    """The report, its figures written into `figures` on the way."""
    bench, h = results["bench"], results["ablation"]
    bench_shown, curves = bench_figures(bench, figures)
    shutil.copyfile(present(h.path.parent / h.data["figure"], h.command), figures / "h_crops.png")
    lines = [*text.header(results, command), *text.algorithm(), *text.training(bench, curves),
             *text.incidents(results["incidents"]), *text.benchmark(bench, bench_shown),
             *text.h_ablation(h, "figures/h_crops.png", packaged_h()), *text.improvements(results["arms"]),
             *text.finetune(results["finetune"]), *text.burst(results["burst"])]
    return "\n".join(lines).rstrip() + "\n"


def replace_outputs(stage: Path, out: Path) -> None:
    """stage/report.md and stage/figures/ replace their namesakes in `out` (the old figures go with the stage)."""
    if (out / "figures").exists():
        os.replace(out / "figures", stage / "figures.old")
    os.replace(stage / "figures", out / "figures")
    os.replace(stage / "report.md", out / "report.md")


def write_report(args) -> Path:
    folders = {spec.flag: getattr(args, spec.flag) for spec in INPUTS}
    results = {spec.flag: [load(spec, folder) for folder in folders[spec.flag]] if spec.many else
               load(spec, folders[spec.flag]) for spec in INPUTS}
    command = "python scripts/make_report.py " + " ".join(
        f"--{k} {' '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in folders.items()) + \
        f" --out {args.out}"
    created = not args.out.exists()
    out = output_folder(args.out, "--out")
    remove_abandoned_stages(out)  # of a report run killed outright
    stage = Path(tempfile.mkdtemp(prefix=f".partial-{os.getpid()}-", dir=out))
    try:
        (stage / "figures").mkdir()
        (stage / "report.md").write_text(markdown(results, stage / "figures", command))
        replace_outputs(stage, out)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        if created and not any(out.iterdir()):
            out.rmdir()
    return out / "report.md"


@user_errors_exit_2
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for spec in INPUTS:
        parser.add_argument(f"--{spec.flag}", type=Path, nargs="+" if spec.many else None,
                            default=[Path(d) for d in spec.default] if spec.many else Path(spec.default),
                            help=f"folder{'s' if spec.many else ''} of {spec.file} "
                                 f"(`{spec.command.format(dir='DIR')}`)")
    parser.add_argument("--out", type=Path, default=Path("docs"), help="gets report.md and figures/")
    print(f"report: {write_report(parser.parse_args(argv))}")
