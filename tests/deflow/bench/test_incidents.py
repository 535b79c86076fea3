"""scripts/training_incidents.py: each incident's evidence against what the injected faults, the tiling weights and
the EMA rule imply, computed here on their own; and the result file's schema."""
import json
import math
from pathlib import Path

import pytest

from deflow.bench.incidents import (FIELDS, blended_tiles_halve_noise, check_report, ema_shares, fixed_decay_shares,
                                    main)

ROOT = Path(__file__).resolve().parents[3]
NAMES = ["non_finite_loss", "shift_at_zero", "blended_tiles_halve_noise", "ema_initial_weights"]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("incidents")
    main(["--out", str(out), "--deflow-iters", "2", "--sr-iters", "12"])
    return json.loads((out / "incidents.json").read_text()), (out / "incidents.md").read_text()


def evidence(report, name):
    return next(i["evidence"] for i in report[0]["incidents"] if i["name"] == name)


def test_report_has_the_schema_make_report_reads(report):
    data, md = report
    assert list(data) == ["run", "incidents"]
    assert set(data["run"]) == {"command", "date", "wall_seconds", "machine"}
    assert data["run"]["command"].startswith("python scripts/training_incidents.py --out ")
    assert isinstance(data["run"]["wall_seconds"], float) and data["run"]["wall_seconds"] > 0
    assert [i["name"] for i in data["incidents"]] == NAMES
    for incident in data["incidents"]:
        assert tuple(incident) == FIELDS and all(isinstance(incident[k], str) for k in FIELDS[:-1])
        path, function = incident["code"].split(":")
        assert f"def {function}" in (ROOT / path).read_text() or f"class {function}" in (ROOT / path).read_text()
        assert incident["evidence"] and f"## {incident['name']}" in md


def test_check_report_refuses_a_number_without_a_unit(report):
    data = json.loads(json.dumps(report[0]))
    data["incidents"][0]["evidence"]["skipped"] = 3
    with pytest.raises(ValueError, match="names no unit"):
        check_report(data)


def test_guard_skipped_exactly_the_injected_iterations_and_left_the_state_bitwise(report):
    ev = evidence(report, "non_finite_loss")
    injected = sorted(ev["injected_nan_loss_iterations"] + ev["injected_infinite_gradient_iterations"])
    assert ev["skipped_iterations"] == injected
    assert ev["iterations_run_count"] == ev["total_iter_count"]
    assert ev["optimizer_steps_count"] == ev["total_iter_count"] - len(injected)
    assert ev["skip_reasons"] == ["loss l_pix"] * len(ev["injected_nan_loss_iterations"]) + \
        ["gradient of network g"] * len(ev["injected_infinite_gradient_iterations"])
    assert ev["skipped_steps_left_weights_bitwise_unchanged"] and ev["taken_steps_changed_weights"]
    assert ev["skipped_steps_left_ema_and_optimizer_bitwise_unchanged"]
    counts, run = [], 0  # the guard's counter: consecutive skips, reset by a taken step
    for iteration in range(1, ev["total_iter_count"] + 1):
        run = run + 1 if iteration in injected else 0
        counts.append(run)
    assert ev["consecutive_nonfinite_after_each_iteration_count"] == counts


def test_guard_stops_after_max_nonfinite_naming_the_last_checkpoint(report):
    ev = evidence(report, "non_finite_loss")
    assert ev["stop_iteration"] == ev["stop_injected_nan_from_iteration"] + ev["stop_max_nonfinite_count"] - 1
    assert ev["last_good_checkpoint_iteration"] == 5  # save_checkpoint_freq 5, the last one before the NaNs
    assert ev["last_good_checkpoint_all_finite"]
    assert "<experiment>/checkpoints/iter_00000005.pth" in ev["stop_message"]
    line = ev["deflow_nan_pixel_log_lines"]
    assert len(line) == 1 and line[0].startswith(f"iteration {ev['deflow_nan_pixel_at_iteration']}: non-finite loss")
    assert "first non-finite output in layer" in line[0]


def test_shift_gradient_is_exactly_zero_at_A0_and_not_at_the_default(report):
    ev = evidence(report, "shift_at_zero")
    assert ev["A_grad_max_abs_at_A0_value"] == 0.0 and ev["paper_shift_A_grad_max_abs_at_A0_value"] == 0.0
    assert all(g > 0 for g in ev["A_grad_norm_at_default_init_per_level_norm"])
    assert all(g > 0 for g in ev["paper_shift_A_grad_norm_at_default_init_per_level_norm"])
    assert all(g > 0 for g in ev["mean_shift_grad_norm_at_A0_per_level_norm"])  # the batch reaches the shift
    assert ev["A_frobenius_after_training_from_A0_per_level_norm"] == [0.0] * len(ev["latent_levels_value"])
    assert all(a != b for a, b in zip(ev["A_frobenius_after_training_from_default_per_level_norm"],
                                      ev["A_frobenius_at_default_init_per_level_norm"]))
    assert all(m > 0 for m in ev["mean_shift_after_training_from_A0_per_level_norm"])


def ramp_std(overlap):
    """sqrt(a^2 + b^2) of the two tiles' linear ramp weights a + b = 1 across an overlap of `overlap` px."""
    out = []
    for j in range(overlap):
        a = (j + 1) / (overlap + 1)
        out.append(math.sqrt(a * a + (1 - a) ** 2))
    return out


def test_ramp_blend_lowers_noise_std_as_the_formula_and_cut_keeps_it():
    ev = blended_tiles_halve_noise(tile=64, overlap=16)["evidence"]
    formula = ramp_std(16)
    assert all(abs(m / f - 1) < 0.05 for m, f in zip(ev["ramp_std_per_overlap_px_ratio"], formula))
    assert abs(min(ev["ramp_std_per_overlap_px_ratio"]) * math.sqrt(2) - 1) < 0.05
    assert abs(ev["ramp_corner_middle_std_ratio"] / min(formula) ** 2 - 1) < 0.05
    assert all(abs(s - 1) < 0.05 for s in ev["cut_std_per_overlap_px_ratio"])
    assert abs(ev["cut_corner_middle_std_ratio"] - 1) < 0.05


def test_framework_ema_shares_follow_its_warm_up_and_never_hold_the_initial_weights():
    decay, steps = 0.999, 60
    shares = ema_shares(decay, steps).tolist()
    # the documented rule: a copy at the first update, then decay min(d, (1 + n) / (10 + n)) after n updates
    expected = [0.0, 1.0] + [0.0] * (steps - 1)
    for k in range(2, steps + 1):
        d = min(decay, (1 + (k - 1)) / (10 + (k - 1)))
        expected = [e * d for e in expected]
        expected[k] += 1 - d
    assert shares == pytest.approx(expected, rel=1e-9, abs=1e-15)
    assert shares[0] == 0.0 and sum(shares) == pytest.approx(1.0)
    fixed = fixed_decay_shares(decay, steps).tolist()
    assert fixed[0] == pytest.approx(decay ** steps) and sum(fixed) == pytest.approx(1.0)


def test_ema_evidence_ranks_a_fixed_decay_ema_below_the_raw_weights(report):
    ev = evidence(report, "ema_initial_weights")
    assert ev["initial_weights_share_fixed_decay_formula_ratio"] == pytest.approx(0.999 ** ev["run_iterations"])
    assert ev["initial_weights_share_framework_measured_ratio"] == 0.0
    assert ev["first_step_weights_share_framework_measured_ratio"] == pytest.approx(
        ev["first_step_weights_share_framework_formula_ratio"], rel=1e-9)
    assert len(ev["psnr_raw_db"]) == len(ev["psnr_evaluated_at_iterations"]) == len(ev["psnr_ema_framework_db"])
    assert ev["psnr_ema_fixed_decay_minus_raw_final_db"] < 0
