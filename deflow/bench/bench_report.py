"""The camera benchmark's summary (means and spreads over seeds, gap closed) and its markdown table."""
import statistics

# Below this oracle-vs-bicubic PSNR gap a gap-closed ratio is mostly noise: a method's PSNR spreads by up to 0.3 dB
# over seeds (realesrgan in the full run), 15 % of a 2 dB gap.
GAP_MIN_DB = 2.0
SCORES = ("psnr", "ssim", "lpips", "c2st_vs_camera", "c2st_vs_real_domain", "akld_vs_camera", "nlf_distance_8bit",
          "lr_noise_std_8bit", "detail_kept")


def spread(values: list) -> dict | None:
    """{"mean", "std" (over seeds; None for one), "n", "values"}, or None when no value is there."""
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"mean": statistics.mean(values), "std": statistics.stdev(values) if len(values) > 1 else None,
            "n": len(values), "values": values}


def summarize(results: list[dict], methods: tuple[str, ...]) -> dict:
    """Per method (in the order of `methods`): mean and spread over seeds of every score, and the gap closed
    (method - bicubic) / (oracle - bicubic), paired by seed."""
    by_run = {(r["method"], r["seed"]): r for r in results}
    summary = {}
    for method in methods:
        runs = sorted((r for r in results if r["method"] == method), key=lambda r: r["seed"])
        if not runs:
            continue
        entry = {key: spread([r.get(key) for r in runs]) for key in SCORES}
        for metric in ("psnr", "ssim"):
            closed = []
            for r in runs:
                low, high = by_run.get(("bicubic", r["seed"])), by_run.get(("oracle", r["seed"]))
                if low and high and high[metric] != low[metric]:
                    closed.append((r[metric] - low[metric]) / (high[metric] - low[metric]))
            entry[f"gap_closed_{metric}"] = spread(closed)
        entry["psnr_per_image"] = {name: statistics.mean(r["per_image"][name]["psnr"] for r in runs)
                                   for name in runs[0]["per_image"]}
        summary[method] = entry
    return summary


def oracle_gap(results: list[dict]) -> dict | None:
    """Oracle minus bicubic PSNR, per seed: how much room the camera leaves for a better degradation model."""
    by_run = {(r["method"], r["seed"]): r for r in results}
    return spread([by_run[("oracle", s)]["psnr"] - by_run[("bicubic", s)]["psnr"]
                   for m, s in by_run if m == "oracle" and ("bicubic", s) in by_run])


def fmt(value: dict | None, digits: int, percent: bool = False) -> str:
    if value is None:
        return "n/a"
    scale, unit = (100, " %") if percent else (1, "")
    text = f"{value['mean'] * scale:.{digits}f}"
    if value["std"] is not None:
        text += f" ± {value['std'] * scale:.{digits}f}"
    return text + unit


def table(summary: dict, methods: list[str], camera_kept: float | None = None) -> list[str]:
    """The markdown rows of `methods`' scores, header first; `camera_kept`, the camera's detail kept, in its header."""
    kept = "detail kept" + (f" (camera {camera_kept:.2f})" if camera_kept is not None else "")
    lines = ["| method | PSNR (dB) | SSIM | LPIPS | gap closed, PSNR | gap closed, SSIM | C2ST vs camera, same photos "
             f"| C2ST vs real domain | AKLD vs camera | NLF distance (8-bit) | LR noise std (8-bit) | {kept} |",
             "|" + " --- |" * 12]
    for method in methods:
        m = summary[method]
        lines.append(f"| {method} | {fmt(m['psnr'], 3)} | {fmt(m['ssim'], 4)} | {fmt(m['lpips'], 4)} | "
                     f"{fmt(m['gap_closed_psnr'], 0, True)} | {fmt(m['gap_closed_ssim'], 0, True)} | "
                     f"{fmt(m['c2st_vs_camera'], 1, True)} | {fmt(m['c2st_vs_real_domain'], 1, True)} | "
                     f"{fmt(m['akld_vs_camera'], 3)} | {fmt(m['nlf_distance_8bit'], 2)} | "
                     f"{fmt(m['lr_noise_std_8bit'], 1)} | {fmt(m.get('detail_kept'), 2)} |")
    return lines


def picks(s: dict) -> str:
    """The settings' words on DeFlow models picked by their noise-level function (--deflow-candidates)."""
    count = s.get("deflow_candidates", 1)
    if count == 1:
        return ""
    chosen = "; ".join(f"{where}: model {p['chosen']} of " + ", ".join(
        f"{m} ({'n/a' if d is None else f'{d:.2f}'})" for m, d in p["nlf_distance_8bit"].items())
        for where, p in s.get("deflow_picks", {}).items())
    return (f"; each model picked of {count} candidates by the NLF distance (8-bit) of its translation to the real "
            f"domain, unpaired (methods.pick_model): {chosen}")


def markdown(report: dict) -> str:
    summary, run, s = report["summary"], report["run"], report["settings"]
    ablation = report.get("ablation", [])
    lines = [f"# Camera benchmark x2 ({run['mode']}{', partial' if report['partial'] else ''})", "",
             f"- date: {run['date']}", f"- machine: {run['machine']}", f"- command: `{run['command']}`",
             f"- wall time: {run['wall_seconds'] / 60:.1f} min", "",
             *table(summary, [m for m in summary if m not in ablation], s.get("detail_kept_camera"))]
    arms = [m for m in summary if m in ablation]
    if arms:
        lines += ["", "## DeFlow ablation", "", "deflow_plain is DeFlow as the paper has it (its h bicubic_noise, one "
                  "shift per level, split priors shared by both domains, no domain filter, heat 1), its models not "
                  "picked; each arm below it adds one of deflow's switches alone; deflow is the chosen combination "
                  "(--deflow-config, --deflow-heat, --noise-floor, --deflow-candidates), and the arms after "
                  "deflow_noise_floor change one thing of it (methods.py): its first models without the pick, its "
                  "models translated with the scaled floor or --keep-colour, or its config with latent_scale.", "",
                  *table(summary, [m for m in ("deflow", *arms) if m in summary], s.get("detail_kept_camera"))]
    gap = report["oracle_minus_bicubic_psnr"]
    if gap is not None:
        verdict = ("readable" if gap["mean"] >= GAP_MIN_DB else
                   f"below {GAP_MIN_DB:g} dB: the gap-closed ratios are mostly noise")
        lines += ["", f"Oracle - bicubic PSNR: {fmt(gap, 2)} dB ({verdict})."]
    if report.get("realism_page"):
        lines += ["", f"Realism figures (noise-level curves, residual spectra, seed {s['seeds'][0]}): "
                      f"[{report['realism_page']}]({report['realism_page']})"]
    names = next(iter(summary.values()))["psnr_per_image"] if summary else {}
    lines += ["", "PSNR per test photo (dB, mean over seeds):", "",
              "| method | " + " | ".join(names) + " |", "|" + " --- |" * (len(names) + 1)]
    lines += [f"| {method} | " + " | ".join(f"{m['psnr_per_image'][n]:.2f}" for n in names) + " |"
              for method, m in summary.items()]
    fitted = s.get("white_noise_sigma_8bit")
    lpips = f"unavailable: {report['lpips_unavailable']}" if report["lpips_unavailable"] else "LPIPS-Alex"
    lines += ["", "## Settings", "",
              f"- camera: {', '.join(f'{k} {v}' for k, v in s['camera'].items())}; noise draws seeded "
              f"{s['camera_seed']}",
              "- photos: " + "; ".join(f"{role}: {', '.join(names)}" for role, names in s["split"].items()),
              f"- SR: {s['sr_config']}, {s['sr_iters']} iterations; seeds {s['seeds']}; "
              f"DeFlow: {s['deflow_config']}, {s['deflow_iters']} iterations, {s.get('deflow_seeds', 1)} model(s) "
              f"(SR seed s uses model s mod {s.get('deflow_seeds', 1)}), heat {s.get('deflow_heat', 'auto')}, noise floor "
              "raised (translate --noise-floor)" + picks(s),
              "- noise std estimates (8-bit): " + ", ".join(f"{k} {v:.2f}" for k, v in s["noise_std_8bit"].items())
              + (f"; white_noise sigma fitted: {fitted:.2f}" if fitted is not None else ""),
              f"- LPIPS: {lpips}",
              "", "Spread: ± is the standard deviation over seeds (SR initialisation and crops, the methods' noise "
              "draws, and DeFlow's training where it trains several models). Gap closed = (method - bicubic) / (oracle - bicubic), paired by seed. "
              "C2ST: held-out accuracy of a small CNN telling the method's LR patches from the camera's; 50 % = "
              "indistinguishable. 'Same photos' compares with the camera's LR of the same clean photos (another noise "
              "draw); 'real domain' with the unpaired real LR images, other photos, so content counts too and the "
              "oracle's accuracy is that column's floor. AKLD (DANet, Yue et al. 2020): the divergence of the local "
              "noise variances from the camera's on the same photos, 0 = identical (the oracle's value is the floor "
              "of a second noise draw). NLF distance: RMS difference of the noise std against intensity from the real "
              "domain's, estimated without pairs on flat regions. Detail kept: the share of the bicubic LR's detail at 0.25-0.5 "
              "cycles/px the method's LR of the same photos keeps (their cross-spectrum over the bicubic LR's power, "
              "metrics.realism.detail_transfer; independent noise averages out), the camera's value in the header."]
    return "\n".join(lines) + "\n"
