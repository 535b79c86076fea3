"""The findings report's markdown, one function per section, from the result files that make_report.py loaded.

Numbers are printed only through `number`, `signed`, `plain`, `short`, `evidence_text` and bench_report's `fmt` and
`table`, from a value of a result file, an aggregate of one of its lists (mean, min, max) or the difference of two
sibling means (one score of two methods, arms or h's). Each section's Source line names the files it reads and the
commands that wrote them. Judgements (which h helps and why) are sentences chosen by the measured order and signs,
never written around a number.
"""
import json
import math
import statistics
from dataclasses import dataclass
from pathlib import Path

from deflow.bench.bench_report import GAP_MIN_DB, fmt, picks, table

PAPER_H = "bicubic_noise"      # DeFlow's own h: the h ablation's reference
PAPER_DEFLOW = "deflow_plain"  # DeFlow as the paper has it: the reference of the benchmark's ablation arms
CLASSICAL = ("saa", "ibp", "btv")
ARM_MEANING = {  # the benchmark's DeFlow arms (deflow/bench/methods.py)
    "deflow_plain": "DeFlow as the paper has it: its h, one shift per level, split priors shared by both domains",
    "deflow_content_shift": "the paper's DeFlow with the shift following the content (`network_g.content_shift`)",
    "deflow_split_prior": "the paper's DeFlow with split priors corrected per domain (`network_g.domain_split_prior`)",
    "deflow_domain_filter": "the paper's DeFlow with a learned blur and detail gain K (`network_g.domain_filter`)",
    "deflow_config_h": "the paper's DeFlow with the config's h (`network_g.h`)",
    "deflow_heat_auto": "the paper's DeFlow translated at the heat matched to the real domain's noise-level function",
    "deflow_noise_floor": "the paper's DeFlow with translate's noise floor",
    "deflow": "every switch, the noise floor and the model pick (the default)",
    "deflow_no_pick": "deflow's first models, not picked",
    "deflow_scaled_floor": "deflow's models, the noise floor filled by amplifying the flow's own noise first",
    "deflow_keep_colour": "deflow with the source's colours coarser than 4 px kept (translate --keep-colour 4)",
    "deflow_latent_scale": "deflow's config with degraded latents D z + u (`network_g.latent_scale`), not picked",
}
ON_DEFLOW = ("deflow_no_pick", "deflow_scaled_floor", "deflow_keep_colour",
             "deflow_latent_scale")  # arms that change one thing of `deflow`


@dataclass(frozen=True)
class Result:
    """A loaded result file: its path as given, its JSON, and the command that wrote it (`recorded`: the file names
    the command itself; otherwise it is the command the README gives for it)."""
    path: Path
    data: dict
    command: str
    recorded: bool


def number(value: float | None, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def signed(a: float, b: float, digits: int) -> str:
    """a - b with its sign."""
    return f"{a - b:+.{digits}f}"


def plain(value) -> str:
    """A settings value as text: numbers as Python writes them (4 significant digits where that needs an exponent),
    dicts as `key value` pairs, lists comma-separated."""
    if isinstance(value, dict):
        return ", ".join(f"{k} {plain(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(plain(v) for v in value)
    return short(value) if isinstance(value, float) and "e" in repr(value) else str(value)


def short(value) -> str:
    """A measured value to 4 significant digits, never with an exponent (trailing zeros dropped)."""
    if isinstance(value, bool) or not isinstance(value, float) or value == 0 or not math.isfinite(value):
        return str(value)
    text = f"{value:.{min(12, max(0, 3 - math.floor(math.log10(abs(value)))))}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def evidence_text(value) -> str:
    """An evidence value: a number to 4 significant digits, a long list of numbers by its mean and range."""
    if isinstance(value, list) and len(value) > 6 and all(isinstance(v, (int, float)) for v in value):
        return f"mean {short(float(statistics.mean(value)))} (min {short(min(value))}, max {short(max(value))})"
    if isinstance(value, list):
        return ", ".join(evidence_text(v) for v in value)
    return short(value)


def settings_list(settings: dict) -> list[str]:
    return [f"- {key.replace('_', ' ')}: {plain(value)}" for key, value in settings.items()]


def spread_word(a: dict, b: dict) -> str:
    """Whether two stats' means differ by more than their standard deviations together."""
    if a["std"] is None or b["std"] is None:
        return "one seed, so no spread is measured"
    beyond = abs(a["mean"] - b["mean"]) > a["std"] + b["std"]
    return "beyond the seeds' spread" if beyond else "within the seeds' spread"


def source(*results: Result) -> str:
    parts = []
    for r in results:
        run = r.data.get("run", {})
        if r.recorded:
            wall = f", wall time {number(run['wall_seconds'], 0)} s" if run.get("wall_seconds") is not None else ""
            parts.append(f"`{r.path}`, written by `{r.command}` on `{run.get('date', 'an unrecorded date')}` "
                         f"(`{run.get('machine', 'unrecorded machine')}`{wall})")
        else:
            parts.append(f"`{r.path}`, which records no command; the README's for it is `{r.command}`")
    return "Source: " + "; ".join(parts) + "."


def image(file: str, caption: str) -> list[str]:
    return [f"![{caption}]({file})", "", f"*{caption}*", ""]


def header(results: dict[str, Result], command: str) -> list[str]:
    lines = ["# deflow: findings report", "",
             f"Written by `{command}` from the result files below, never by hand: regenerate it after a new run. "
             "Every number in a section comes from the files its Source line names.", "",
             "| result file | written by |", "| --- | --- |"]
    files = [r for found in results.values() for r in (found if isinstance(found, list) else [found])]
    lines += [f"| `{r.path}` | `{r.command}` |" for r in files]
    return lines + [""]


def algorithm() -> list[str]:
    return ["## The algorithm in brief", "",
            "DeFlow ([Wolf et al.](https://arxiv.org/abs/2101.05796)) learns how a camera degrades images from two "
            "unpaired sets: clean images (domain X, here the bicubic LR of clean photos) and degraded ones (domain Y, "
            "the camera's LR of other photos). One conditional normalizing flow maps an image to a latent, conditioned "
            "on the RRDB features of a domain-invariant function h of the image: a version of it in which the two "
            "domains look alike (the paper's: bicubic downscaling and a little Gaussian noise). Clean latents follow "
            "a standard normal; degraded ones a normal shifted by a learned mean `mu` with covariance `I + A A^T`, at "
            "every latent level. Both domains train the one flow by maximum likelihood (the NLL in bits per "
            "dimension), so the shift is what the model learns of the degradation.", "",
            "To translate a clean image, the flow encodes it, conditioned on h of itself; the latent moves by a draw "
            "of the shift, `u ~ N(mu, A A^T)` scaled by the heat; the flow decodes it back into a degraded version "
            "with the same content. Those translations of clean photos, beside the clean HR photos, are the training "
            "pairs of the SR network (RRDBNet), which then restores the camera's real LR images.", "",
            "deflow's default goes beyond the paper in six ways, each measured alone under \"Improvements beyond "
            "h\": its h, `chroma_blur_noise`, also blurs the chroma, where the camera's JPEG and colour matrix leave "
            "noise that survives a bicubic downscaling (see the h ablation); the shift's mean and scale follow the "
            "conditioning (`content_shift`); the degraded domain corrects the split priors (`domain_split_prior`); a "
            "learned blur and detail gain maps the flow's image to the degraded one (`domain_filter`); translations "
            "raise their noise to the real domain's noise-level function where the flow's falls short (translate's "
            "`--noise-floor`); and the benchmark picks each DeFlow model of several trained ones by that function, "
            "measured on unpaired images.", "",
            "```mermaid", "flowchart LR",
            '    X["clean images x, domain X"] --> HX["h(x): blur chroma, downscale, add noise"]',
            '    Y["real degraded images y, domain Y"] --> HY["h(y): blur chroma, downscale, add noise"]',
            '    HX --> E["conditioning encoder: RRDB features"]', "    HY --> E",
            '    X --> F["conditional flow"]', "    Y --> F", "    E --> F",
            '    F -->|"clean: standard normal"| ZX["latent of x"]',
            '    F -->|"degraded: normal shifted by mu, covariance I + A A^T"| ZY["latent of y"]',
            '    ZX --> T["translate: add a draw u of the shift"]',
            '    T --> D["decode with the flow: degraded version of x"]',
            '    D --> P["SR training pairs: degraded x beside clean HR"]',
            '    P --> S["SR network: RRDBNet"]', "```", ""]


def training(bench: Result, curves: str) -> list[str]:
    s = bench.data["settings"]
    models = s.get("deflow_seeds", 1)
    return ["## Training", "", source(bench), "",
            "Every model behind the results trains through the one training loop (`python -m deflow.train`): DeFlow "
            "on the unpaired domains, then one RRDBNet per method and seed on that method's pairs. The trainer owns "
            "backward, gradient clipping and the guard that skips an iteration whose losses or gradients are not "
            "finite; checkpoints hold every state, so a stopped run resumes exactly.", "",
            "- photos: " + "; ".join(f"{role}: {', '.join(names)}" for role, names in s["split"].items()),
            f"- camera: {plain(s['camera'])}; its noise draws seeded {s['camera_seed']}",
            f"- DeFlow: `{s['deflow_config']}`, {s['deflow_iters']} iterations, {models} model(s) (SR seed s uses "
            f"model s mod {models}), heat {s.get('deflow_heat', 'auto')}, translated with the noise floor"
            + picks(s),
            f"- SR: `{s['sr_config']}`, {s['sr_iters']} iterations, seeds {plain(s['seeds'])}",
            f"- realism: C2ST on {s['c2st']['patches_per_class']} patches of {s['c2st']['patch']} px per class, "
            f"{s['c2st']['steps']} steps", "",
            *image(curves, "training curves from the benchmark's train.log files: every DeFlow training's NLL and "
                           "each paired method's first SR training's pixel loss")]


def incidents(found: Result) -> list[str]:
    lines = ["## Abnormal situations met in training", "", source(found), ""]
    for item in found.data["incidents"]:
        lines += [f"### {item['name']}", "", f"- what happened: {item['what_happened']}",
                  f"- what the framework does: {item['what_the_framework_does']}", f"- code: `{item['code']}`",
                  "- evidence:", *(f"    - `{key}`: {evidence_text(value)}" for key, value in item["evidence"].items()),
                  ""]
    return lines


def best(summary: dict, methods: list[str], key: str, higher: bool = True) -> list[str]:
    """`methods` with a `key` score, best first."""
    scored = [m for m in methods if summary[m].get(key)]
    return sorted(scored, key=lambda m: summary[m][key]["mean"], reverse=higher)


def benchmark(bench: Result, figures: list[tuple[str, str]]) -> list[str]:
    d = bench.data
    summary, arms = d["summary"], d["ablation"]
    methods = [m for m in summary if m not in arms]
    blind = [m for m in methods if m != "oracle"]
    lines = ["## Results: the camera benchmark", "", source(bench), "",
             "A fixed camera model plays the real camera. Each method makes the LR side of the training pairs of the "
             "clean photos its own way; one RRDBNet, schedule and seed trains on every method's pairs, and is scored "
             "on the camera's LR of held-out photos (PSNR and SSIM under `rwsr_rgb`; gap closed = (method - bicubic) "
             "/ (oracle - bicubic), paired by seed; the oracle uses the camera itself, which no real user has). "
             "Mean ± standard deviation over seeds. DeFlow's ablation is under \"Improvements beyond h\".", "",
             *table(summary, methods), ""]
    gap = d["oracle_minus_bicubic_psnr"]
    if gap is not None:
        readable = ("the room a better degradation model has" if gap["mean"] >= GAP_MIN_DB else
                    "too little room for the gap-closed ratios to mean much")
        lines += [f"Oracle minus bicubic pairs: {fmt(gap, 2)} dB, {readable}.", ""]
    lines += ["Among the methods that do not use the camera (all but `oracle`):", ""]
    for key, word, higher, digits in (("psnr", "highest PSNR", True, 3), ("ssim", "highest SSIM", True, 4),
                                      ("akld_vs_camera", "lowest AKLD against the camera", False, 3),
                                      ("nlf_distance_8bit", "lowest NLF distance to the real domain", False, 2)):
        ranked = best(summary, blind, key, higher)
        if len(ranked) >= 2:
            first, second = summary[ranked[0]][key], summary[ranked[1]][key]
            lines.append(f"- {word}: `{ranked[0]}`, {fmt(first, digits)}; next `{ranked[1]}`, "
                         f"{fmt(second, digits)} ({signed(first['mean'], second['mean'], digits)}, "
                         f"{spread_word(first, second)}).")
    if "deflow" in summary and summary["deflow"]["gap_closed_psnr"]:
        mine = summary["deflow"]["psnr"]["mean"]
        ahead = [m for m in best(summary, blind, "psnr") if summary[m]["psnr"]["mean"] > mine]
        place = ("ahead of all of them" if not ahead else
                 f"behind {', '.join(f'`{m}`' for m in ahead)}")
        lines.append(f"- `deflow` closes {fmt(summary['deflow']['gap_closed_psnr'], 0, True)} of the PSNR gap and "
                     f"{fmt(summary['deflow']['gap_closed_ssim'], 0, True)} of the SSIM gap; by PSNR it is {place}.")
    lines.append("")
    for file, caption in figures:
        lines += image(file, caption)
    return lines


def h_analysis(row: dict, ref: dict) -> str:
    """One sentence on why `row`'s h helps or hurts against the paper's h, chosen by the measured signs."""
    spread = spread_word(row["psnr"], ref["psnr"])
    if spread == "within the seeds' spread":
        return "The difference is within the seeds' spread: this budget cannot tell it from the paper's h."
    reason = h_reason(row, ref)
    if spread == "beyond the seeds' spread":
        return reason
    return f"With one seed, tentatively: {reason[0].lower()}{reason[1:]}"


def h_reason(row: dict, ref: dict) -> str:
    d = row["psnr"]["mean"] - ref["psnr"]["mean"]
    closer = row["h_gap"] < ref["h_gap"]
    nlf_worse = row["nlf_distance_8bit"]["mean"] > ref["nlf_distance_8bit"]["mean"]
    if d > 0 and closer:
        return ("This is the invariance argument at work: after this h the two domains look more alike, so less of "
                "the degradation reaches the conditioning and the latent shift has to carry it into the translations.")
    if d > 0:
        return ("It helps although it leaves the domains further apart, so the gain is not invariance: what this h "
                "keeps gives the conditioning more content by which the flow places the degradation.")
    if not closer:
        tail = ("and its translations' noise-level function is further from the camera's, as that predicts"
                if nlf_worse else "though the noise-level distance does not show it")
        return ("It hurts by letting more of the degradation through: the conditioning already tells the domains "
                "apart, so the flow can explain the noise by the condition instead of the shift, " + tail + ".")
    return ("More invariant, yet worse: what this h removes costs content the flow needs to decide where the "
            "degradation shows, or its own perturbation dominates the conditioning.")


def h_ablation(h: Result, figure: str, default_h: str) -> list[str]:
    """`default_h`: the h of the packaged DeFlow config."""
    d = h.data
    rows = sorted(d["rows"], key=lambda r: r["psnr"]["mean"], reverse=True)
    ref = next((r for r in rows if r["h"] == PAPER_H), None)
    units = rows[0]["nll_units"], rows[0]["h_gap_units"]
    bicubic, oracle = d["reference"]["bicubic"], d["reference"]["oracle"]
    lines = ["## The domain-invariant function h", "", source(h), "",
             "Each h conditions the benchmark's DeFlow arm, everything else (seeds, budget, SR training) unchanged. "
             "h gap: how far h of the clean and of the degraded domain lie apart (lower = more invariant). Rows by "
             "PSNR, best first.", "",
             *settings_list(d["settings"]),
             f"- reference: bicubic pairs {fmt(bicubic['psnr'], 3)} dB / SSIM {fmt(bicubic['ssim'], 4)}; the "
             f"camera's own pairs (oracle) {fmt(oracle['psnr'], 3)} dB / SSIM {fmt(oracle['ssim'], 4)}", "",
             "| h | section | PSNR (dB) | SSIM | gap closed, PSNR | gap closed, SSIM | AKLD vs camera | NLF distance "
             "| NLL clean | NLL degraded | h gap | DeFlow training (s) |",
             "|" + " --- |" * 12]
    for r in rows:
        section = r["section"] if isinstance(r["section"], str) else json.dumps(r["section"])
        lines.append(f"| `{r['h']}` | `{section}` | {fmt(r['psnr'], 3)} | {fmt(r['ssim'], 4)} | "
                     f"{fmt(r['gap_closed_psnr'], 0, True)} | {fmt(r['gap_closed_ssim'], 0, True)} | "
                     f"{fmt(r['akld_vs_camera'], 3)} | {fmt(r['nlf_distance_8bit'], 2)} | "
                     f"{number(r['nll_clean'], 3)} | {number(r['nll_degraded'], 3)} | {short(r['h_gap'])} | "
                     f"{number(r['deflow_train_seconds'], 0)} |")
    lines += ["", f"NLL in {units[0]}; h gap in {units[1]}.", "",
              *image(figure, "translated crops per h, side by side")]
    top = rows[0]
    if ref is None:
        return lines + [f"Best downstream PSNR: `{top['h']}`, {fmt(top['psnr'], 3)} dB (the paper's h was not run).",
                        ""]
    verdict = ("no h beats the paper's" if top is ref else
               f"`{top['h']}` leads the paper's `{PAPER_H}` by {signed(top['psnr']['mean'], ref['psnr']['mean'], 3)}"
               f" dB ({spread_word(top['psnr'], ref['psnr'])})")
    lines += [f"Best downstream PSNR: `{top['h']}`, {fmt(top['psnr'], 3)} dB; {verdict}.", ""]
    default = next((r for r in rows if r["h"] == default_h), None)
    if default is not None and default is not top:
        lines += [f"The packaged configs' h is `{default_h}`: {signed(default['psnr']['mean'], top['psnr']['mean'], 3)}"
                  f" dB against `{top['h']}` here ({spread_word(default['psnr'], top['psnr'])}).", ""]
    elif default is not None:
        lines += [f"The packaged configs' h is `{default_h}`, the best here.", ""]
    lines += [f"Why each h helps or hurts, against `{PAPER_H}` ({ref['what']}):", ""]
    for r in rows:
        if r is ref:
            continue
        gap = "smaller" if r["h_gap"] < ref["h_gap"] else "larger" if r["h_gap"] > ref["h_gap"] else "equal"
        lines.append(f"- `{r['h']}` ({r['what']}): PSNR {signed(r['psnr']['mean'], ref['psnr']['mean'], 3)} dB, SSIM "
                     f"{signed(r['ssim']['mean'], ref['ssim']['mean'], 4)}; h gap {gap} ({short(r['h_gap'])} against "
                     f"{short(ref['h_gap'])}), NLF distance {fmt(r['nlf_distance_8bit'], 2)} against "
                     f"{fmt(ref['nlf_distance_8bit'], 2)}. {h_analysis(r, ref)}")
    return lines + [""]


def verdict(a: dict, ref: dict) -> str:
    spread = spread_word(a, ref)
    if spread == "within the seeds' spread":
        return "Its PSNR does not move beyond the seeds' spread."
    return ("It raises PSNR" if a["mean"] > ref["mean"] else "It lowers PSNR") + \
        ("." if spread == "beyond the seeds' spread" else " (one seed, no spread measured).")


def improvements(runs: list[Result]) -> list[str]:
    """DeFlow's ablation arms from one or more benchmark runs; each arm is shown from the first run that scored it and
    compared with its reference in that run."""
    home: dict[str, dict] = {}  # arm: the summary of the run that scored it first
    for run in runs:
        for m in ("deflow", *run.data["ablation"]):
            if m in run.data["summary"]:
                home.setdefault(m, run.data["summary"])
    shown = list(home)
    lines = ["## Improvements beyond h: DeFlow's ablation", "", source(*runs), "",
             "The first arms change one thing of DeFlow as the paper has it (`deflow_plain`); `deflow` is the chosen "
             "combination, and the later arms change one thing of it. Same seeds and budget as the benchmark; each "
             "arm is compared with its reference in the same run.", "",
             *table({m: home[m][m] for m in shown}, shown), ""]
    for m in shown:
        base = "deflow" if m in ON_DEFLOW else PAPER_DEFLOW
        if m == PAPER_DEFLOW or base not in home[m]:
            continue
        a, ref = home[m][m], home[m][base]
        lines.append(f"- `{m}`: {ARM_MEANING.get(m, m)}. Against `{base}`: PSNR "
                     f"{signed(a['psnr']['mean'], ref['psnr']['mean'], 3)} dB ({spread_word(a['psnr'], ref['psnr'])})"
                     f", SSIM {signed(a['ssim']['mean'], ref['ssim']['mean'], 4)}, AKLD "
                     f"{signed(a['akld_vs_camera']['mean'], ref['akld_vs_camera']['mean'], 3)}, NLF distance "
                     f"{signed(a['nlf_distance_8bit']['mean'], ref['nlf_distance_8bit']['mean'], 2)}. "
                     + verdict(a["psnr"], ref["psnr"]))
    top = max(shown, key=lambda m: home[m][m]["psnr"]["mean"])
    lines += ["", f"Best PSNR of the arms: `{top}`, {fmt(home[top][top]['psnr'], 3)} dB.", ""]
    return lines


def finetune(ft: Result) -> list[str]:
    d = ft.data
    arms = sorted(d["arms"], key=lambda a: a["psnr"]["mean"], reverse=True)
    s = d["settings"]
    lines = ["## Fine-tuning on a second camera: the task's protocol", "", source(ft), "",
             "Task one: DeFlow and SR trained on camera A; task two: a second camera B, of which only a small set of "
             "frames exists. The arms adapt to camera B differently; all are scored on camera B's test pairs.", "",
             *settings_list(s), "",
             "| arm | what | PSNR (dB) | SSIM | LPIPS | time (s) |", "|" + " --- |" * 6]
    lines += [f"| `{a['arm']}` | {a['what']} | {fmt(a['psnr'], 3)} | {fmt(a['ssim'], 4)} | {fmt(a['lpips'], 4)} | "
              f"{number(a['seconds'], 0)} |" for a in arms]
    top = arms[0]
    lines += ["", f"Best on camera B: `{top['arm']}` ({top['what']}), {fmt(top['psnr'], 3)} dB in "
                  f"{number(top['seconds'], 0)} s."]
    for a in arms[1:]:
        lines.append(f"- `{top['arm']}` against `{a['arm']}`: PSNR "
                     f"{signed(top['psnr']['mean'], a['psnr']['mean'], 3)} dB ({spread_word(top['psnr'], a['psnr'])}),"
                     f" SSIM {signed(top['ssim']['mean'], a['ssim']['mean'], 4)}; `{a['arm']}` took "
                     f"{number(a['seconds'], 0)} s.")
    return lines + [""]


def frames_text(k: int) -> str:
    return f"{k} frame" + ("" if k == 1 else "s")


def burst_means(data: dict) -> tuple[dict, list[int]]:
    """{method: {frames (None: the reference frame only): (PSNR, SSIM, seconds)}}, the frame counts."""
    means: dict = {}
    for key, scores in data["scores"].items():
        method, _, k = key.partition("@")
        means.setdefault(method, {})[int(k) if k else None] = (
            statistics.mean(s["psnr"] for s in scores), statistics.mean(s["ssim"] for s in scores),
            statistics.mean(data["seconds"][key]))
    return means, sorted({k for m in means.values() for k in m if k is not None})


def burst(found: Result) -> list[str]:
    means, frames = burst_means(found.data)
    shown = 8 if 8 in frames else frames[-1]
    lines = ["## Classical multi-frame SR against deep learning", "", source(found), "",
             "Synthetic bursts of held-out photos through the benchmark camera (random sub-pixel motion, every frame "
             "its own noise), x2; PSNR (dB) / SSIM under `rwsr_rgb`, mean over the crops.", "",
             "| method | reference frame | " + " | ".join(map(frames_text, frames)) + f" | s / burst at {shown} |",
             "|" + " --- |" * (len(frames) + 3)]
    for method, by_k in means.items():
        cells = [f"{number(by_k[k][0], 2)} / {number(by_k[k][1], 3)}" if k in by_k else "" for k in (None, *frames)]
        seconds = by_k.get(shown, by_k.get(None))
        lines.append(f"| {method} | " + " | ".join(cells) + f" | {number(seconds[2] if seconds else None, 3)} |")
    reg = found.data["registration_error_px"]
    lines += ["", f"ECC registration error against the true motion: mean {number(statistics.mean(reg), 3)} px, max "
                  f"{number(max(reg), 3)} px.", ""]
    for label, values in found.data["corrupted"].items():
        lines.append(f"- {label}: {number(statistics.mean(values), 2)} dB")
    return lines + ["", *burst_judgement(means, frames, found.data), *hybrid(means, frames)]


def burst_judgement(means: dict, frames: list[int], data: dict) -> list[str]:
    """Pros and cons of classical fusion and of the single-frame network, each with its measured numbers."""
    single, bicubic = means.get("single-frame SR", {}).get(None), means.get("bicubic", {}).get(None)
    top_k = frames[-1]
    classical = [m for m in CLASSICAL if top_k in means.get(m, {})]
    if not classical or single is None or bicubic is None:
        return ["(The burst results lack the classical methods or bicubic: rerun bench_burst.py.)", ""]
    c = max(classical, key=lambda m: means[m][top_k][0])
    at, ahead = means[c][top_k], means[c][top_k][0] > single[0]
    times = ", ".join(f"{frames_text(k)} {number(means[c][k][2], 3)} s" for k in frames if k in means[c])
    grows = means[c][top_k][2] > means[c][frames[0]][2]
    lines = ["### Classical multi-frame SR against deep single-frame SR", "",
             f"The best classical fusion with the most frames ({frames_text(top_k)}) is `{c}`.", "",
             f"- Classical, pro: it needs no training data, only a model of the optics: `{c}` reaches "
             f"{number(at[0], 2)} dB, {signed(at[0], bicubic[0], 2)} dB against bicubic and "
             f"{signed(at[0], single[0], 2)} dB against the single-frame network trained on this very camera"
             + (": real sub-pixel samples carry information that no single-frame prior has." if ahead else
                ": here the frames do not make up for the learned prior.")]
    for label, values in data["corrupted"].items():
        kept = data["corrupted"].get(label.replace("rejected", "kept"))
        if label.endswith("rejected") and kept:
            rejected, kept = statistics.mean(values), statistics.mean(kept)
            lines.append(f"- Classical, pro: it knows which samples it has. With one frame of the burst replaced by "
                         f"noise, {label.split(' ')[0]} gives {number(rejected, 2)} dB when the frame's confidence "
                         f"rejects it and {number(kept, 2)} dB when it is kept"
                         + ("." if rejected > kept else ": here the rejection did not pay."))
    lines.append(f"- Classical, con: it depends on registration (ECC's error here: mean "
                 f"{number(statistics.mean(data['registration_error_px']), 3)} px, on rigid motion; moving objects "
                 "need dense flow and robust rejection) and on a PSF and noise model tuned by hand.")
    lines.append(f"- Classical, con: its cost {'grows' if grows else 'does not grow'} with the frames (`{c}`: "
                 f"{times} per burst, against the single-frame network's {number(single[2], 3)} s).")
    if 1 in means[c]:
        one = means[c][1][0]
        lines.append(f"- Classical, con: without a burst it is no SR method: `{c}` of a single frame gives "
                     f"{number(one, 2)} dB against the network's {number(single[0], 2)}." if one < single[0] else
                     f"- Classical: even a single frame through `{c}` gives {number(one, 2)} dB, against the "
                     f"network's {number(single[0], 2)}.")
    lines.append(f"- Deep, pro: the single-frame network learns the camera's noise, ISP and JPEG from data and is "
                 f"fast: {signed(single[0], bicubic[0], 2)} dB against bicubic in {number(single[2], 3)} s per "
                 "image.")
    lines.append(f"- Deep, con: it only guesses the detail that its one frame lacks"
                 + (f": {signed(single[0], at[0], 2)} dB against `{c}` with {frames_text(top_k)}." if ahead else
                    "; here that guess is not beaten by the classical fusion."))
    return lines + [""]


def hybrid(means: dict, frames: list[int]) -> list[str]:
    lines = ["### The hybrid: classical fusion, then a learned refiner", "",
             "The hybrid keeps what classical fusion does well (exact sub-pixel geometry, outlier rejection, "
             "confidence) and lets a network do what it does badly (denoising, deblurring, residual aliasing).", "",
             "```mermaid", "flowchart LR",
             '    B["burst of LR frames"] --> R["registration to the reference frame: phase correlation, then ECC"]',
             '    R --> W["per-frame confidence: frames far below the best are dropped"]',
             '    W --> F["classical fusion on the fine grid: robust data term + bilateral TV"]',
             '    W --> M["confidence map: samples per HR pixel"]',
             '    B --> U["bicubic of the reference frame"]',
             '    F --> N["residual refiner: RRDBNet"]', "    M --> N", "    U --> N",
             '    N --> O["SR image: fusion + refinement"]', "```", ""]
    if "hybrid" not in means:
        return lines + ["(The burst results hold no hybrid: rerun bench_burst.py with --hybrid-model.)", ""]
    single = means.get("single-frame SR", {}).get(None)
    for k in frames:
        if k in means["hybrid"] and k in means.get("btv", {}):
            h, b = means["hybrid"][k], means["btv"][k]
            against = f", {signed(h[0], single[0], 2)} dB against single-frame SR" if single else ""
            lines.append(f"- {frames_text(k)}: hybrid {number(h[0], 2)} dB, {signed(h[0], b[0], 2)} dB against its "
                         f"classical input (BTV){against}; {number(h[2], 3)} s per burst against BTV's "
                         f"{number(b[2], 3)} s.")
    return lines + [""]
