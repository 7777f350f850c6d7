"""summary.json and the detection it counts: episode-level detection at or after the fault,
counted once per episode; and `wallwm eval` writing it through the real command."""

import json
import shlex
from types import SimpleNamespace

import pytest

from agent.cli.main import main
from agent.episode import EpisodeStore
from agent.studies.evaluation import detection_metrics, event_step_ranges
from agent.studies.summary import fault_summary, study_header


def fake_store(events: list[tuple[int, bool, int | None]]) -> SimpleNamespace:
    """Events of (steps, diverged, detection_step), recorded back to back from step 0."""
    records = [
        SimpleNamespace(
            record={
                "pending": {"steps": steps},
                "verdict": {"diverged": diverged, "detection_step": detection_step},
            }
        )
        for steps, diverged, detection_step in events
    ]
    return SimpleNamespace(events=records)


def test_detection_counts_flags_at_or_after_the_fault():
    # Events [0, 10), [10, 20), [20, 30). A flag before the fault (event 0) is a false alarm;
    # the fault at step 15 is flagged at observation 10 + 1 + 7 = 18: a delay of 3 steps. Event
    # 2 runs in the world the fault changed: neither faulty nor nominal.
    store = fake_store([(10, True, 2), (10, True, 7), (10, False, None)])
    metrics = detection_metrics(store, [{"kind": "external_push", "step": 15}])
    assert metrics["detected"] is True and metrics["detection_delay"] == 3
    assert (metrics["faulty"], metrics["true_positive"], metrics["delays"]) == (1, 1, [3])
    assert (metrics["nominal"], metrics["false_positive"]) == (1, 1)
    # Flagged only before the fault: not detected.
    early = detection_metrics(fake_store([(10, True, 0), (10, False, None)]), [{"step": 12}])
    assert early["detected"] is False and early["detection_delay"] is None
    # No fault: nothing to detect.
    assert detection_metrics(store, [])["detected"] is None


def test_only_a_flag_in_the_struck_event_or_the_next_detects_the_fault():
    # The fault strikes event 1 ([10, 20)); event 2 flags: detected, 2 + 20 + 1 - 15 = 8 late.
    next_event = fake_store([(10, False, None), (10, False, None), (10, True, 2)])
    metrics = detection_metrics(next_event, [{"kind": "grasp_slip", "step": 15}])
    assert metrics["detected"] is True and metrics["detection_delay"] == 8
    # A flag two events later is a chance alarm, not this fault found.
    late = fake_store([(10, False, None), (10, False, None), (10, False, None), (10, True, 0)])
    metrics = detection_metrics(late, [{"kind": "grasp_slip", "step": 15}])
    assert metrics["detected"] is False and metrics["detection_delay"] is None
    assert (metrics["nominal"], metrics["faulty"]) == (1, 1)


def test_a_whole_episode_fault_makes_every_event_faulty():
    store = fake_store([(10, True, 0), (10, False, None), (5, True, 4)])
    metrics = detection_metrics(store, [{"kind": "camera_dropout", "step": 0, "steps": None}])
    assert (metrics["faulty"], metrics["nominal"], metrics["true_positive"]) == (3, 0, 2)
    assert metrics["detection_delay"] == 1  # observation 1 is the first the verifier compares


def test_the_executors_own_failure_ends_the_nominal_events_and_is_scored_like_a_fault():
    # Event 1 missed its grasp on its own (no fault): events 1 and 2 run in a world it changed,
    # so only event 0 is nominal, and event 2's flag finds the failure (the next event).
    store = fake_store([(10, False, None), (10, False, None), (10, True, 3)])
    own = [None, "missed_grasp", "grasp_slip"]
    metrics = detection_metrics(store, [], own)
    assert (metrics["nominal"], metrics["false_positive"]) == (1, 0)
    assert metrics["own_failure"] == "missed_grasp" and metrics["own_detected"] is True
    # Without the truth, the same flag is a false alarm on a nominal event.
    blind = detection_metrics(store, [])
    assert (blind["nominal"], blind["false_positive"]) == (3, 1)
    assert blind["own_failure"] is None and blind["own_detected"] is None
    # A failure after a fault acted may be the fault's doing: not the executor's own.
    after_fault = detection_metrics(store, [{"kind": "grasp_slip", "step": 5}], own)
    assert after_fault["own_failure"] is None and after_fault["own_detected"] is None
    # Unflagged in its event and the next: an own failure missed.
    late = fake_store([(10, False, None), (10, False, None), (10, False, None), (10, True, 0)])
    missed = detection_metrics(late, [], [None, "missed_grasp", None, None])
    assert missed["own_detected"] is False and missed["nominal"] == 1


def row(fault, recovery, success, fired=1, detected=None, delay=None, nominal=10, fp=0, own=None):
    return {
        "own_detected": own,
        "fault": fault,
        "recovery": recovery,
        "success": success,
        "faults_fired": fired if fault else 0,
        "detected": detected,
        "detection_delay": delay,
        "nominal": nominal,
        "false_positive": fp,
    }


def test_fault_summary_counts_detection_once_per_episode_and_success_per_mode():
    rows = [
        row(None, False, True, fp=1),
        row(None, False, False, nominal=0, own=True),  # failed on its own at once, found
        row(None, False, False, nominal=2, own=False),  # failed on its own, not found
        row(None, True, True, fp=3),  # recovery-on events are not counted for detection
        row("grasp_slip", False, False, detected=True, delay=4),
        row("grasp_slip", False, False, detected=True, delay=9),
        row("grasp_slip", False, False, detected=False),
        row("grasp_slip", False, True, fired=0),  # the fault never fired: not in the TPR
        row("grasp_slip", True, True, detected=True, delay=4),
        row("grasp_slip", True, False, detected=True, delay=4),
    ]
    summary = fault_summary(rows)
    assert summary["detection_from"] == "recovery off"
    none, slip = summary["by_fault"]["none"], summary["by_fault"]["grasp_slip"]
    assert (none["tpr"], none["tpr_n"], none["fpr"], none["fpr_n"]) == (None, 0, 1 / 12, 12)
    assert (none["own_tpr"], none["own_tpr_n"], slip["own_tpr_n"]) == (0.5, 2, 0)
    assert (slip["episodes"], slip["fired"]) == (6, 3)
    assert (slip["tpr"], slip["tpr_n"]) == (pytest.approx(2 / 3), 3)
    assert slip["tpr_ci95"] == [0.2077, 0.9385]
    assert (slip["delay_steps"], slip["delay_n"]) == (6.5, 2)
    assert slip["success"] == {"on": 0.5, "off": 0.25}
    assert slip["success_n"] == {"on": 2, "off": 4}
    only_on = fault_summary([r for r in rows if r["recovery"]])
    assert only_on["detection_from"] == "recovery on"
    assert only_on["by_fault"]["grasp_slip"]["success"] == {"on": 0.5, "off": None}


@pytest.mark.slow
def test_wallwm_eval_writes_summary_json_and_the_report_header(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = [
        "eval",
        "--tasks",
        "bowl_red_blue",
        "--seeds",
        "0",
        "--faults",
        "none,camera_dropout,grasp_slip+external_push,external_push@last",
        "--recovery",
        "off",
        "--executor",
        "oracle",
        "--resolution",
        "64",
        "--out",
        "study dir",  # a space: the command is shell-quoted
    ]
    assert main(args) == 0
    out = tmp_path / "study dir"
    summary = json.loads((out / "summary.json").read_text())
    assert shlex.split(summary["command"]) == ["wallwm", *args]
    assert summary["executor"] == "oracle" and summary["checkpoint"] is None
    assert summary["calibration"] == {"file": None, "alpha": None, "detectors": None}
    assert (summary["seeds"], summary["tasks"], summary["episodes"]) == ([0], ["bowl_red_blue"], 4)
    by_fault = summary["by_fault"]
    assert list(by_fault) == [
        "none",
        "camera_dropout",
        "external_push@last",
        "grasp_slip+external_push",
    ]
    for entry in by_fault.values():
        assert {"tpr", "tpr_n", "fpr", "fpr_n", "delay_steps", "delay_n", "success"} <= set(entry)
    # A black camera all episode is flagged at once by the oracle, whose frames are exact.
    assert by_fault["camera_dropout"]["tpr"] == 1.0 and by_fault["camera_dropout"]["fpr_n"] == 0
    assert by_fault["none"]["fpr"] == 0.0 and by_fault["none"]["fpr_n"] > 5
    # The grip check finds the slip, the scene check the pushes; neither flags a nominal event.
    both = by_fault["grasp_slip+external_push"]["detectors"]
    assert both["grip"]["tpr"] == 1.0 and both["agent"]["tpr"] == 1.0
    assert by_fault["external_push@last"]["detectors"]["scene"]["tpr"] == 1.0
    assert by_fault["none"]["detectors"]["grip"]["fpr"] == 0.0
    assert by_fault["none"]["detectors"]["scene"]["fpr"] == 0.0
    rows = {r["fault"]: r for r in map(json.loads, (out / "results.jsonl").open())}
    assert rows["grasp_slip+external_push"]["fault_kinds"] == ["external_push", "grasp_slip"]
    # Every episode replayed exactly; the oracle never fails on its own.
    assert all(r["truth"]["proprio_error"] == 0.0 for r in rows.values())
    assert by_fault["none"]["own_tpr_n"] == 0 and rows[None]["own_failure"] is None
    last = rows["external_push@last"]
    store = EpisodeStore.open_existing(out / last["case"])
    start, end = event_step_ranges(store)[-1]
    assert start < last["fault_steps"][0] <= end  # the push landed in the last event
    report = (out / "report.md").read_text()
    assert "| executor | oracle |" in report and f"`{summary['command']}`" in report
    assert "| camera_dropout | 1 | 1 | 1.00 (1/1) [0.21, 1.00] |" in report


def test_the_header_names_the_checkpoint_and_its_shipped_calibration(tmp_path):
    (tmp_path / "calibration.json").write_text(json.dumps({"alpha": 0.1}))
    (tmp_path / "calibration.detectors.json").write_text("{}")
    header = study_header(str(tmp_path), None, range(2), ["bowl_red_blue"], "wallwm eval")
    assert header["executor"] == str(tmp_path) and header["checkpoint"] == str(tmp_path)
    assert header["calibration"] == {
        "file": str(tmp_path / "calibration.json"),
        "alpha": 0.1,
        "detectors": str(tmp_path / "calibration.detectors.json"),
    }
    assert header["seeds"] == [0, 1]
    oracle = study_header("oracle", None, [0], ["bowl_red_blue"], "wallwm eval")
    assert oracle["checkpoint"] is None
    assert oracle["calibration"] == {"file": None, "alpha": None, "detectors": None}


def test_every_detector_is_scored_on_the_same_events():
    # Events [0, 10), [10, 20); the fault at step 15. The divergence detector flags event 1 at
    # its step 7 (observation 18), the action one flags event 0 (a false alarm) and event 1 at
    # its step 0 (observation 11, before the fault acted: counted for the event, not for the
    # episode, which needs a flag at or after the fault).
    store = fake_store([(10, False, None), (10, True, 7)])
    flags = [
        {"latent": None, "action": 0, "combined": 0},
        {"latent": 7, "action": 0, "combined": 0},
    ]
    for event, per_event in zip(store.events, flags, strict=True):
        event.record["detectors"] = {
            "flags": {name: {"flagged": s is not None, "step": s} for name, s in per_event.items()}
        }
    metrics = detection_metrics(store, [{"kind": "external_push", "step": 15}])
    latent, action = metrics["detectors"]["latent"], metrics["detectors"]["action"]
    assert (latent["true_positive"], latent["false_positive"], latent["detection_delay"]) == (
        1,
        0,
        3,
    )
    assert latent["detected"] is metrics["detected"] is True  # the verdict's, as before
    assert (action["true_positive"], action["false_positive"], action["detected"]) == (1, 1, False)
    rows = [
        {**row("grasp_slip", False, False), **metrics, "faults_fired": 1},
        {**row(None, False, True), "detectors": {"latent": {**latent, "nominal": 4}}},
    ]
    summary = fault_summary(rows)["by_fault"]
    slip = summary["grasp_slip"]["detectors"]
    assert list(slip) == ["latent", "action", "combined"]
    assert (slip["latent"]["tpr"], slip["latent"]["delay_steps"]) == (1.0, 3)
    assert (slip["action"]["tpr"], slip["action"]["fpr"], slip["action"]["fpr_n"]) == (0.0, 1.0, 1)
    assert list(summary["none"]["detectors"]) == ["latent"]
    assert summary["none"]["detectors"]["latent"]["fpr_n"] == 4
