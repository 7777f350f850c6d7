"""summary.json of a failure-recovery study: one JSON object a script can check.

Top level: `command` (the exact command line, shell-quoted), `executor` (what ran: `auto`
resolved), `checkpoint` (the learned executor's folder; null for the oracle), `calibration`
(`file`: --calibration, else the checkpoint's shipped calibration.json, else null for the
uncalibrated default threshold; the `alpha` it was fitted for; and `detectors`, the action and
combined detectors' thresholds beside it, or null),
`seeds`, `tasks`, `recovery` (the modes run), `episodes`, `detection_from` and `by_fault`.

`by_fault` maps each fault spec ("none", "grasp_slip", "grasp_slip+external_push",
"external_push@last", ...) to:
- `episodes`: cases run with it; `fired`: those where the simulator logged the fault.
- `tpr`, `tpr_n`, `tpr_ci95`: share of the `fired` episodes where the verifier flagged a
  divergence from the fault to the end of the event after the one it struck (null without such
  episodes; agent/studies/evaluation.py).
- `fpr`, `fpr_n`, `fpr_ci95`: share of nominal events (ended before any fault acted and
  before the executor's own first failure) flagged.
- `own_tpr`, `own_tpr_n`, `own_tpr_ci95`: share of the episodes where the executor failed on its
  own before any fault (the simulator's state after each event, replayed:
  agent/studies/event_truth.py) with a flag in that event or the next.
- `delay_steps`, `delay_n`: median control steps from the fault to that flag, over the
  detected episodes (null when none).
- `detectors`: the same `tpr*`, `fpr*`, `delay_*`, `own_tpr*` fields for every detector
  recorded on these episodes (agent/verify/detectors.py): "frame" or "latent" (the divergence
  measure that ran: the fields above), "action" (the spread of K sampled action sequences; a
  learned executor with --action-draws and a calibration fitted with them), "combined" (either
  flags, each at alpha / 2), "grip" and "scene" (the fingers closed on nothing in a holding
  skill; a block the event left alone seen moved: agent/verify/physical.py) and "agent"
  (divergence, grip or scene: what the agent acts on).
- `success`, `success_n`, `success_ci95`: task success with recovery "on" and "off" (null for a
  mode not run).
Rates come with the number of cases behind them and a 95% Wilson interval. Detection is counted
on the recovery-off episodes when the study ran them (recovery on and off are the same episode
until the first flag, so pooling both would count each detection twice), else on recovery-on.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from agent.studies.stats import rate

SUMMARY_FILE = "summary.json"


def _rate(name: str, successes: int, n: int) -> dict[str, Any]:
    values = rate(successes, n)
    return {name: values["rate"], f"{name}_n": n, f"{name}_ci95": values["ci95"]}


def detection_summary(measured: list[dict[str, Any]]) -> dict[str, Any]:
    """tpr, fpr and delay of the detection counts in `measured` (result rows, or one detector's
    part of them)."""
    fired = [row for row in measured if row.get("faults_fired", 0) > 0]
    detected = [row for row in fired if row.get("detected")]
    delays = [row["detection_delay"] for row in detected if row["detection_delay"] is not None]
    entry: dict[str, Any] = _rate("tpr", len(detected), len(fired))
    nominal = sum(row["nominal"] for row in measured)
    entry |= _rate("fpr", sum(row["false_positive"] for row in measured), nominal)
    entry["delay_steps"] = statistics.median(delays) if delays else None
    entry["delay_n"] = len(delays)
    failed = [row for row in measured if row.get("own_detected") is not None]
    entry |= _rate("own_tpr", sum(bool(row["own_detected"]) for row in failed), len(failed))
    return entry


def detector_summary(measured: list[dict[str, Any]]) -> dict[str, Any]:
    """detector -> tpr, fpr and delay, each detector scored on the same episodes."""
    names = list(dict.fromkeys(name for row in measured for name in row.get("detectors", {})))
    return {
        name: detection_summary(
            [
                {"faults_fired": row.get("faults_fired", 0), **row["detectors"][name]}
                for row in measured
                if name in row.get("detectors", {})
            ]
        )
        for name in names
    }


def fault_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """{'detection_from', 'by_fault'} of the study's result rows (see the module's docstring)."""
    # The recovery flag of the episodes detection is counted on: off when the study ran it.
    detection_mode = all(row["recovery"] for row in rows)
    by_fault: dict[str, dict[str, Any]] = {}
    for fault in sorted({row["fault"] or "none" for row in rows}, key=lambda f: (f != "none", f)):
        members = [row for row in rows if (row["fault"] or "none") == fault]
        measured = [row for row in members if row["recovery"] == detection_mode]
        fired = [row for row in measured if row.get("faults_fired", 0) > 0]
        entry: dict[str, Any] = {"episodes": len(members), "fired": len(fired)}
        entry |= detection_summary(measured)
        entry["detectors"] = detector_summary(measured)
        entry["success"], entry["success_n"], entry["success_ci95"] = {}, {}, {}
        for mode, flag in (("on", True), ("off", False)):
            runs = [row for row in members if row["recovery"] == flag]
            values = rate(sum(row["success"] for row in runs), len(runs))
            entry["success"][mode] = values["rate"]
            entry["success_n"][mode] = len(runs)
            entry["success_ci95"][mode] = values["ci95"]
        by_fault[fault] = entry
    return {
        "detection_from": "recovery on" if detection_mode else "recovery off",
        "by_fault": by_fault,
    }


def study_header(
    executor: str,
    calibration: str | None,
    seeds: Iterable[int],
    tasks: Iterable[str],
    command: str,
) -> dict[str, Any]:
    """What the study ran with, as the report and summary.json state it."""
    from agent.execution.registry import EXECUTORS, resolve
    from agent.verify.calibration import shipped_calibration
    from agent.verify.detectors import detectors_file
    from worldmodel.locate import checkpoint_folder, find_checkpoints

    ran = resolve(executor, {path.name for path in find_checkpoints()})
    checkpoint = None if ran in EXECUTORS else checkpoint_folder(ran)
    if calibration is None:  # the runs then use the thresholds shipped with the checkpoint
        shipped = shipped_calibration(checkpoint)
        calibration = str(shipped) if shipped else None
    alpha, detectors = None, None
    if calibration is not None:
        try:
            alpha = json.loads(Path(calibration).read_text()).get("alpha")
        except (OSError, ValueError, AttributeError):
            alpha = None  # unreadable here: the run itself says what is wrong with it
        extra = detectors_file(Path(calibration))
        detectors = str(extra) if extra.is_file() else None
    return {
        "command": command,
        "executor": ran,
        "checkpoint": None if checkpoint is None else str(checkpoint),
        "calibration": {"file": calibration, "alpha": alpha, "detectors": detectors},
        "seeds": list(seeds),
        "tasks": list(tasks),
    }


def write_summary(study_dir: Path, header: Mapping[str, Any], rows: list[dict[str, Any]]) -> Path:
    """summary.json in study_dir; returns its path."""
    summary = {
        **header,
        "recovery": sorted({"on" if row["recovery"] else "off" for row in rows}),
        "episodes": len(rows),
        **fault_summary(rows),
    }
    path = study_dir / SUMMARY_FILE
    path.write_text(json.dumps(summary, indent=1) + "\n")
    return path
