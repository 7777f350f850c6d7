"""A small failure-recovery study: detection counts, recovery on vs off, resumable, report."""

import json
import shutil

import numpy as np
import pytest

from agent.studies.evaluation import cases, finished_rows, rescored, run_study, summarize
from agent.studies.report import write_report
from agent.studies.summary import fault_summary

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    base = {"executor": "oracle", "planner": "embedded", "resolution": 64}
    plan = cases(["bowl_red_blue"], [None, "grasp_slip"], [0], [False, True])
    rows = list(run_study(plan, out, base))
    return out, base, plan, rows


def test_slip_is_detected_and_recovery_changes_the_outcome(study):
    _, _, _, rows = study
    by_case = {row["case"]: row for row in rows}
    slip_off = by_case["eval-bowl_red_blue-grasp_slip-s0-off"]
    slip_on = by_case["eval-bowl_red_blue-grasp_slip-s0-on"]
    nominal = by_case["eval-bowl_red_blue-none-s0-on"]
    assert slip_off["faults_fired"] >= 1 and slip_off["faulty"] >= 1
    assert slip_off["true_positive"] == slip_off["faulty"]  # flagged, but not acted on
    assert slip_off["recoveries"] == 0 and not slip_off["success"]
    assert slip_on["recoveries"] >= 1 and slip_on["success"]
    assert nominal["success"] and nominal["false_positive"] == 0 and nominal["faulty"] == 0
    # The simulator's truth of every event: the episode replayed exactly as it ran.
    for result in rows:
        assert result["truth"]["replayed"] and result["truth"]["proprio_error"] == 0.0
    assert len(nominal["truth"]["events"]) == nominal["events"]
    assert not any(nominal["truth"]["events"]) and nominal["own_failure"] is None
    # The slip drops the block: the truth sees it, but it is the fault's, not the executor's.
    assert "grasp_slip" in slip_off["truth"]["events"] and slip_off["own_failure"] is None
    summary = {(s["fault"], s["recovery"]): s for s in summarize(rows)}
    assert summary[("grasp_slip", "on")]["success"] - summary[("grasp_slip", "off")]["success"] == 1
    slip = fault_summary(rows)["by_fault"]["grasp_slip"]
    assert (slip["tpr"], slip["tpr_n"]) == (1.0, 1)  # counted once, on the recovery-off case
    assert slip["success"] == {"on": 1.0, "off": 0.0} and slip["success_n"] == {"on": 1, "off": 1}
    # The oracle has no action draws: no action detector; the frame detector scores what the
    # verdict did, beside the grip and scene checks and their union with it.
    frame = slip_off["detectors"]["frame"]
    assert list(slip_off["detectors"]) == ["frame", "grip", "scene", "agent"]
    assert slip_off["detectors"]["grip"]["detected"] is True
    assert (frame["true_positive"], frame["detected"]) == (slip_off["true_positive"], True)
    assert slip["detectors"]["frame"]["tpr"] == slip["tpr"]


def test_a_rerun_keeps_finished_cases_and_resumes_the_rest(study):
    out, base, plan, rows = study
    results = out / "results.jsonl"
    lines = results.read_text().splitlines()
    results.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:20])  # a torn last line
    assert len(finished_rows(out)) == len(plan) - 1
    again = list(run_study(plan, out, base))  # the last case's thread is finished: it returns
    assert [r["case"] for r in again] == [r["case"] for r in rows]
    assert again[-1]["success"] == rows[-1]["success"]


def test_a_row_from_before_the_truth_is_scored_again_from_its_replayed_episode(study, tmp_path):
    out, base, plan, _ = study
    results = out / "results.jsonl"
    lines = results.read_text().splitlines()
    first = json.loads(lines[0])
    untruthful = {k: v for k, v in first.items() if k != "truth"}
    results.write_text("\n".join([json.dumps(untruthful), *lines[1:]]) + "\n")
    again = list(run_study(plan, out, base))
    assert again[0]["truth"] == first["truth"] and again[0]["nominal"] == first["nominal"]
    # appended, not rewritten: the last line of a case is its row
    assert sum(first["case"] in line for line in results.read_text().splitlines()) == 2
    assert finished_rows(out)[first["case"]]["truth"] == first["truth"]
    # An episode that no longer replays as it ran (its proprio altered): no truth of its own
    # failures, only the fault log decides.
    copy = tmp_path / first["case"]
    shutil.copytree(out / first["case"], copy)
    execution = next((copy / "executions").glob("*.npz"))
    arrays = dict(np.load(execution))
    arrays["proprio"] = arrays["proprio"] + 0.01
    np.savez(execution, **arrays)
    scored = rescored(untruthful, tmp_path)
    assert scored["truth"]["replayed"] and scored["truth"]["proprio_error"] > 0.005
    assert "events" not in scored["truth"] and scored["nominal"] == first["nominal"]


def test_report_has_tables_and_plots(study):
    out, _, _, rows = study
    report = write_report(out, rows, "test study")
    text = report.read_text()
    assert "| grasp_slip | on | 1 | 1.00 (1/1) [0.21, 1.00] |" in text  # rate (k/n) [Wilson]
    assert "| grasp_slip | frame | 1.00 (1/1) [0.21, 1.00] |" in text  # detectors side by side
    for image in (
        "success.png",
        "detection.png",
        "divergence-grasp_slip.png",
        "divergence-none.png",
    ):
        assert (out / image).stat().st_size > 5000
    assert (out / "video-grasp_slip.mp4").stat().st_size > 10_000
    assert (
        json.loads((out / "results.jsonl").read_text().splitlines()[0])["task"] == "bowl_red_blue"
    )
