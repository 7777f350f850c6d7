"""Failure-recovery studies: tasks x faults x seeds, recovery on vs off, with detection metrics.

Each case is one `wallwm run` thread with a fixed id (eval-<task>-<fault>-s<seed>-<on|off>) in the
study's folder, and its result is one line of results.jsonl. Rerunning a study skips finished
cases and resumes an interrupted one from its last checkpoint, so a crash costs at most the event
in flight.

Detection ground truth comes from the simulator: its fault log (where the study struck) and its
state after every event, replayed (agent/studies/event_truth.py: where the executor failed on its
own). An executed event is *faulty* when a fault acted during its steps, *nominal* when it ended
before the episode's first fault acted and before the executor's own first failure (events after
either run in a world it changed: neither). An episode's fault is *detected* when a flag falls
from the fault up to the end of the event after the one it struck (DETECTION_EVENTS events): a
flag later than that is a chance alarm, not a detection of this fault; the executor's own first
failure (before any fault) is detected the same way. False-positive rate = nominal events
flagged / nominal events; detection delay = control steps from the fault to that flag.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from agent.envs.tabletop.tasks import get_task, paraphrase
from agent.episode import EpisodeStore
from agent.graph.runner import TakeoverPending
from agent.run_spec import RunSpec
from agent.session import Session, open_session
from agent.studies.event_truth import REPLAY_TOLERANCE, Replay, own_failures, replay_episode
from agent.studies.stats import rate
from agent.verify.calibration import ScoreSample
from agent.verify.detectors import ACTION_KEY, event_flags

RESULTS_FILE = "results.jsonl"
# A fault counts as detected by a flag in the event it struck or the next one: a slip late in a
# lift shows when the move carries nothing; anything later is no longer about this fault.
DETECTION_EVENTS = 2


@dataclass(frozen=True)
class EvalCase:
    task: str
    fault: str | None
    seed: int
    recovery: bool

    @property
    def case_id(self) -> str:
        recovery = "on" if self.recovery else "off"
        return f"eval-{self.task}-{self.fault or 'none'}-s{self.seed}-{recovery}"


def cases(
    tasks: Iterable[str],
    faults: Iterable[str | None],
    seeds: Iterable[int],
    recovery: Iterable[bool],
) -> list[EvalCase]:
    return [
        EvalCase(task, fault, seed, on)
        for task in tasks
        for fault in faults
        for seed in seeds
        for on in recovery
    ]


def event_step_ranges(store: EpisodeStore) -> list[tuple[int, int]]:
    """[start, end) robot steps of every recorded event, in execution order from reset."""
    ranges, start = [], 0
    for event in store.events:
        steps = int(event.record["pending"]["steps"])
        ranges.append((start, start + steps))
        start += steps
    return ranges


def fault_steps(fault_log: list[dict[str, Any]], episode_end: int) -> list[int]:
    """Every robot step a logged fault acted on, sorted. A fault acts from its logged step for its
    logged duration (a camera freeze: "steps"); "steps": None is to the episode's end (a camera
    dropped for the whole episode)."""
    steps: set[int] = set()
    for entry in fault_log:
        start, duration = int(entry["step"]), entry.get("steps", 1)
        steps.update(range(start, episode_end + 1 if duration is None else start + int(duration)))
    return sorted(steps)


def _first_own_failure(
    ranges: list[tuple[int, int]], own: list[str | None] | None, first_fault: int | None
) -> int | None:
    """The index of the executor's first own failure that ended before any fault acted (one
    after a fault may be the fault's doing); None without one or without the truth."""
    for index, ((_, end), failure) in enumerate(zip(ranges, own or [], strict=False)):
        if first_fault is not None and end >= first_fault:
            return None
        if failure is not None:
            return index
    return None


def _scored(
    ranges: list[tuple[int, int]],
    acted: list[int],
    steps: list[int | None],
    own: list[str | None] | None,
) -> dict[str, Any]:
    """Detection counts and delays of one detector, given the step of each event's first flag
    within the event (None: not flagged) and each event's own failure (None: the truth is
    unknown, and only faults decide)."""
    counts = {"faulty": 0, "nominal": 0, "true_positive": 0, "false_positive": 0}
    delays: list[int] = []
    first_fault = acted[0] if acted else None
    first_own = _first_own_failure(ranges, own, first_fault)
    struck: int | None = None  # the index of the event the first fault acted in
    detection_flags: list[int] = []  # observation steps of flags inside the detection window
    own_detected = False
    for index, ((start, end), step) in enumerate(zip(ranges, steps, strict=True)):
        flag = None if step is None else start + 1 + step
        fired = [s for s in acted if start < s <= end]
        if fired:
            counts["faulty"] += 1
            if flag is not None:
                counts["true_positive"] += 1
                delays.append(max(0, flag - fired[0]))
        elif (first_fault is None or end < first_fault) and (
            first_own is None or index < first_own
        ):
            counts["nominal"] += 1
            counts["false_positive"] += int(flag is not None)
        if struck is None and fired:
            struck = index
        in_window = struck is not None and index < struck + DETECTION_EVENTS
        if flag is not None and in_window and first_fault is not None and flag >= first_fault:
            detection_flags.append(flag)
        own_window = first_own is not None and first_own <= index < first_own + DETECTION_EVENTS
        before_fault = first_fault is None or (flag is not None and flag < first_fault)
        own_detected |= flag is not None and own_window and before_fault
    return {
        **counts,
        "delays": delays,
        "detected": None if first_fault is None else bool(detection_flags),
        "detection_delay": detection_flags[0] - first_fault if detection_flags else None,
        "own_failure": None if first_own is None or own is None else own[first_own],
        "own_detected": None if first_own is None else own_detected,
    }


def detection_metrics(
    store: EpisodeStore, fault_log: list[dict[str, Any]], own: list[str | None] | None = None
) -> dict[str, Any]:
    """Per-event detection counts and delays against the simulator's fault log and, when known,
    each event's own failure (`own`, agent/studies/event_truth.py), and the episode's own:
    `detected` (a divergence flagged from the first fault to the end of the event after the
    one it struck; None without a fault), `detection_delay` (control steps from the first
    fault to that flag), `own_failure` (the executor's first failure before any fault) and
    `own_detected` (flagged in that event or the next; None without one). The same for every
    detector recorded with the events, under `detectors` (agent/verify/detectors.py).

    Steps are the simulator's: a fault logged at step s first shows in observation s, which an
    event of steps [start, end) observes when start < s <= end (its k-th divergence value
    compares observation start + k + 1)."""
    ranges = event_step_ranges(store)
    acted = fault_steps(fault_log, ranges[-1][1] if ranges else 0)
    verdicts = [event.record["verdict"] for event in store.events]
    steps = [(v["detection_step"] or 0) if v["diverged"] else None for v in verdicts]
    flags = [event_flags(event.record) for event in store.events]
    names = list(dict.fromkeys(name for per_event in flags for name in per_event))
    return {
        **_scored(ranges, acted, steps, own),
        "detectors": {
            # an event without a detector's flag (no spread that event) counts as not flagged
            name: _scored(ranges, acted, [f.get(name, {}).get("step") for f in flags], own)
            for name in names
        },
    }


def _truth(
    store: EpisodeStore, replay: Replay | None
) -> tuple[dict[str, Any], list[str | None] | None]:
    """The row's `truth` field and each event's own failure (None when the episode could not be
    replayed as it ran: then only the fault log decides)."""
    if replay is None:
        return {"replayed": False, "reason": "the environment has no true scene"}, None
    field: dict[str, Any] = {"replayed": True, "proprio_error": replay.proprio_error}
    if replay.proprio_error > REPLAY_TOLERANCE:
        field["reason"] = "the replay left the recorded run: its own failures are unknown"
        return field, None
    own = own_failures(store, replay)
    return {**field, "events": own}, own


def rescored(row: dict[str, Any], study_dir: Path) -> dict[str, Any]:
    """A row finished before studies judged events by the simulator's state: its detection
    counted again with the truth of a replay of its episode (its outcome stays)."""
    store = EpisodeStore.open_existing(study_dir / row["case"])
    replay = replay_episode(store)
    truth, own = _truth(store, replay)
    if own is None or replay is None:
        return {**row, "truth": truth}
    return {**row, **detection_metrics(store, replay.fault_log, own), "truth": truth}


def run_case(case: EvalCase, study_dir: Path, base: Mapping[str, Any]) -> dict[str, Any]:
    """Run (or resume) one case to its end; returns its result row. `base` holds the RunSpec
    settings every case shares (executor, planner, calibration, ...)."""
    spec = RunSpec(
        **{
            **base,
            "instruction": paraphrase(get_task(case.task), case.seed),
            "task": case.task,
            "seed": case.seed,
            "faults": tuple(case.fault.split("+")) if case.fault else (),
            "recovery": case.recovery,
        }
    )
    session: Session = open_session(spec, study_dir, thread_id=case.case_id)
    try:
        session.runner.restore_robot(spec.seed)
        context = session.runner.context
        try:
            session.runner.run(spec.instruction, False, None, recovery=spec.recovery)
            metrics = context.store.metrics or {}
        except TakeoverPending:
            # Recovery escalated to a person; a study has none, so the episode ends here.
            monitor = context.monitor
            metrics = {
                "success": bool(monitor and monitor.success()),
                "progress": monitor.progress() if monitor else 0.0,
                "events": len(context.store.events),
                "recoveries": len(session.runner.state().get("recoveries", [])),
                "wall_time_s": round(context.workspace.elapsed(), 3),
            }
        store = context.store
        faults = getattr(session.robot, "faults", None)  # the simulator's fault injector
        fault_log = list(faults.log) if faults else []
        row = {
            **asdict(case),
            "case": case.case_id,
            "success": bool(metrics.get("success")),
            "progress": float(metrics.get("progress", 0.0)),
            "events": metrics.get("events", 0),
            "recoveries": metrics.get("recoveries", 0),
            "wall_time_s": metrics.get("wall_time_s", 0.0),
            "faults_fired": len(fault_log),
            "fault_steps": sorted({int(entry["step"]) for entry in fault_log}),
            "fault_kinds": sorted({entry["kind"] for entry in fault_log}),
        }
        truth, own = _truth(store, replay_episode(store))
        row |= {**detection_metrics(store, fault_log, own), "truth": truth}
    finally:
        session.close()
    return row


def finished_rows(study_dir: Path) -> dict[str, dict[str, Any]]:
    path = study_dir / RESULTS_FILE
    if not path.exists():
        return {}
    rows = {}
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a torn last line: that case runs again
        rows[row["case"]] = row
    return rows


def run_study(
    study: list[EvalCase],
    study_dir: Path,
    base: Mapping[str, Any],
    on_case: Callable[[EvalCase, dict[str, Any] | None], None] | None = None,
) -> Iterator[dict[str, Any]]:
    """Run every unfinished case; yields each result row (finished ones first, from disk). A
    finished row without the simulator's truth of its events is scored again and appended (the
    last line of a case is its row)."""
    study_dir.mkdir(parents=True, exist_ok=True)
    done = finished_rows(study_dir)
    for case in study:
        row = done.get(case.case_id)
        if row is None or "truth" not in row:
            row = run_case(case, study_dir, base) if row is None else rescored(row, study_dir)
            with (study_dir / RESULTS_FILE).open("a") as handle:
                handle.write(json.dumps(row) + "\n")
        if on_case is not None:
            on_case(case, row)
        yield row


def summarize(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One line per (fault, recovery): the study's outcomes (detection, counted once per episode,
    is agent/studies/summary.py's)."""
    groups: dict[tuple[str, bool], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["fault"] or "none", row["recovery"]), []).append(row)
    summary = []
    for (fault, recovery), members in sorted(groups.items()):
        success = rate(sum(row["success"] for row in members), len(members))
        summary.append(
            {
                "fault": fault,
                "recovery": "on" if recovery else "off",
                "episodes": len(members),
                "success": success["rate"],
                "success_ci95": success["ci95"],
                "progress": sum(r["progress"] for r in members) / len(members),
                "recoveries_per_episode": sum(r["recoveries"] for r in members) / len(members),
                "wall_time_s": sum(r["wall_time_s"] for r in members) / len(members),
            }
        )
    return summary


def calibration_samples(
    study_dir: Path, rows: list[dict[str, Any]]
) -> tuple[list[ScoreSample], str | None]:
    """Every (skill, camera, divergence score) of a study's recorded events, and the model that
    predicted them: what `wallwm calibrate` fits its thresholds on."""
    samples, model = [], None
    for row in rows:
        store = EpisodeStore.open_existing(study_dir / row["case"])
        for event in store.events:
            model = event.record["pending"]["model"]
            skill = event.record["plan"]["skill"]
            for camera in event.record["verdict"]["cameras"]:
                samples.append(ScoreSample(skill, camera["camera"], float(camera["score"])))
    return samples, model


def spread_samples(study_dir: Path, rows: list[dict[str, Any]]) -> list[ScoreSample]:
    """Every (skill, action spread score) of a study's recorded events that had K action draws:
    what `wallwm calibrate` fits the action-consistency thresholds on."""
    samples = []
    for row in rows:
        store = EpisodeStore.open_existing(study_dir / row["case"])
        for event in store.events:
            spread = (event.record.get("detectors") or {}).get("spread")
            if spread is not None:
                skill = event.record["plan"]["skill"]
                samples.append(ScoreSample(skill, ACTION_KEY, float(spread["score"])))
    return samples
