"""The graph's nodes: `(state, runtime) -> partial state`. They never mutate the state they get
and do I/O only through the clients of the runtime context.

observe -> plan -> execute -> verify -> (observe | recover) ... -> finish; human takeover sits
beside plan and recover. See graph.py for the wiring and routers.py for the decisions.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from langgraph.runtime import Runtime
from langgraph.types import interrupt

from agent.graph.context import AgentContext, Execution
from agent.graph.human import parse_human_answer
from agent.graph.state import AgentState
from agent.perception import perceive
from agent.perception.targets import as_event_targets, fill_targets, needs_targets
from agent.planning.base import PlannerUnavailableError
from agent.planning.horizon import event_frames
from agent.state import EventRecord, EventState, Verification
from agent.verify.detectors import Detectors
from agent.verify.physical import SceneShift, physical_checks, untouched_shift
from worldmodel.errors import WallwmError
from worldmodel.types import EventPrediction, EventRequest, EventTarget


def _timed(context: AgentContext, started: float) -> None:
    """Account time spent in clients (planner, model, robot, store) as outside the graph."""
    context.workspace.seconds_outside_graph += time.perf_counter() - started


def execution_key(state: AgentState) -> str:
    """A key unique to this execution within the task: event number and attempt."""
    return f"e{len(state.get('history', [])):03d}-x{len(state.get('executions', [])):03d}"


# ---- observe ------------------------------------------------------------------------------------
def observe(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Make sure a live observation is at hand; account the wall time and the budgets."""
    context = runtime.context
    if context.workspace.observation is None:
        raise RuntimeError("no observation: the runner resets or restores the robot first")
    budgets = context.budgets
    elapsed = context.workspace.elapsed()
    # Recorded at every step, so a run killed outright keeps the time up to its last event.
    context.store.record_segment(context.workspace.segment, context.workspace.segment_elapsed())
    stop_reason = None
    # Every attempted event counts, executed or refused before moving, so nothing loops forever.
    if len(state.get("history", [])) >= budgets.max_events:
        stop_reason = f"event budget of {budgets.max_events} events spent"
    elif elapsed >= budgets.wall_time_s:
        stop_reason = f"wall-time budget of {budgets.wall_time_s:g} s spent"
    return {"elapsed_s": elapsed, "status": "running", "stop_reason": stop_reason}


# A predicted action may overshoot a bound by this fraction of the component's range and is then
# clipped to it (a learned model's imprecision); beyond it the event is refused.
ACTION_TOLERANCE = 0.1


# ---- plan ---------------------------------------------------------------------------------------
def plan(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """The next event: from the recovery queue if it holds one, else from the planner."""
    context = runtime.context
    queue = list(state.get("queue") or [])
    if queue:
        # a retried event's old targets show where things were before it failed: perceive again
        queued = EventState(**queue.pop(0)).model_copy(update={"targets": []})
        event = _grounded(queued, context).model_dump()
        context.reporter.event("plan", source="recovery", plan=event)
        return {"plan": event, "queue": queue}
    started = time.perf_counter()
    history = [EventRecord(**record) for record in state.get("history", [])]
    last = state.get("last_verification")
    arguments = (
        state["instruction"],
        context.workspace.observation,
        history,
        Verification(**last) if last else None,
    )
    try:
        decided = context.planner.plan(*arguments)
    except PlannerUnavailableError as exc:
        fallback = context.fallback_planner
        if not context.recovery or fallback is None or not history:
            # Recovery off, or a server that has not answered once in this run (a setting to
            # fix, not a fault to ride out): the run stops, resumable (the plan node reruns).
            raise
        # The served planner is gone (its client has retried): the fallback plans the same goal
        # from the cameras for the rest of this process's run.
        context.reporter.event(
            "planner_down", planner=context.planner.name, fallback=fallback.name, reason=str(exc)
        )
        context.planner, context.fallback_planner = fallback, None
        decided = fallback.plan(*arguments)
    if decided.decision in ("continue", "replan"):
        context.skills.check_call(decided.skill, decided.arguments)
        decided = _grounded(decided, context)
        _embed_ahead(context)
    _timed(context, started)
    event = decided.model_dump()
    context.reporter.event("plan", source=context.planner.name, plan=event)
    update = {"plan": event, "attempts": _attempts_after_planning(state, decided)}
    remember = getattr(context.planner, "memory_state", None)
    if remember is not None:  # a planner with a plan in hand: it resumes where it was
        update["planner_memory"] = remember()
    return update


def _embed_ahead(context: AgentContext) -> None:
    """A learned executor embeds the captions of the planner's plan in hand in one batch, so
    each of those events' predictions finds its caption ready (EventModeExecutor.embed_captions).
    A planner without a plan ahead (a VLM's, a person's) leaves each caption to its prediction."""
    upcoming = getattr(context.planner, "upcoming_captions", None)
    embed = getattr(context.executor, "embed_captions", None)
    if upcoming is not None and embed is not None:
        embed(upcoming())


def _attempts_after_planning(state: AgentState, decided: EventState) -> int:
    """A new event starts at 0 attempts; the failed event planned again keeps its count, so a
    replan cannot reset the retry limit (and loop until the event budget is spent)."""
    failed = not (state.get("last_verification") or {"ok": True})["ok"]
    previous = state.get("plan") or {}
    same = (previous.get("skill"), previous.get("arguments")) == (decided.skill, decided.arguments)
    return state.get("attempts", 0) if failed and same else 0


def _grounded(event: EventState, context: AgentContext) -> EventState:
    """The event with the targets its planner left out (a person's event, a recovery's, a VLM's
    missing table positions) filled from perception of the live observation, and as many frames
    as its skill's horizon gives from where the hand is to them (agent/planning/horizon.py)."""
    observation = context.workspace.observation
    if needs_targets(event):
        event = fill_targets(event, perceive(observation))
    if event.decision not in ("continue", "replan") or event.skill not in context.skills:
        return event
    frames = event_frames(context.skills[event.skill], event, observation)
    return event if frames == event.frames else event.model_copy(update={"frames": frames})


def request_targets(event: EventState) -> tuple[EventTarget, ...]:
    """The planner's targets as the world model's contract type."""
    return as_event_targets(event.targets)


# ---- human takeover -----------------------------------------------------------------------------
def human(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """A person gives the next event (or 'end'). interrupt() comes first: the node re-runs on
    resume, and only then reaches the code below with the person's answer."""
    answer = interrupt(
        {
            "instruction": state["instruction"],
            "reason": (state.get("plan") or {}).get("reason", ""),
            "error": state.get("human_error") or state.get("refusal"),
            "last_verification": state.get("last_verification"),
        }
    )
    context = runtime.context
    decided, error = parse_human_answer(str(answer), context.skills, state.get("history", []))
    if decided is None:
        return {"human_error": error, "plan": None}
    decided = _grounded(decided, context)
    context.reporter.event("plan", source="human", plan=decided.model_dump())
    return {"plan": decided.model_dump(), "human_error": None, "attempts": 0, "queue": []}


# ---- execute ------------------------------------------------------------------------------------
def execute(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Ask the world model for the event, then send its actions to the robot one by one."""
    context = runtime.context
    event = EventState(**state["plan"])
    key = execution_key(state)
    observation = context.workspace.observation
    context.reporter.event("execute", key=key, caption=event.next_event, frames=event.frames)
    started = time.perf_counter()
    try:
        request = EventRequest(
            caption=event.next_event,
            observation=observation,
            frames=event.frames,
            # a fresh seed for every attempt: a retry of a refused event must not repeat it
            seed=context.seed * 100_003 + len(state.get("history", [])),
            skill=event.skill,
            arguments=event.arguments,
            targets=request_targets(event),
        )
        prediction = context.executor.predict(request)
        actions = context.robot.action_space.check(prediction.actions, ACTION_TOLERANCE)
    except WallwmError as exc:
        # Refused before anything moved (an object the executor does not know, an action out of
        # bounds, a non-finite prediction): a failed event, handled like any other failure.
        _timed(context, started)
        return _refused(event, str(exc))
    predict_s = time.perf_counter() - started
    start = observation
    observed: dict[str, list[np.ndarray]] = {name: [] for name in observation.camera_names}
    proprio: list[np.ndarray] = []
    previous = observation
    for step, action in enumerate(actions):
        previous, observation = observation, context.robot.step(action)
        for name, image in observation.images.items():
            observed[name].append(image)
        proprio.append(observation.proprio)
        context.reporter.event("step", key=key, step=step + 1, of=len(actions))
    context.workspace.observation = observation
    # The scene check: blocks the event leaves alone, seen at its start and at its end.
    shift = untouched_shift(
        perceive(start),
        perceive(observation, previous=previous),
        event.arguments.values(),
        _holds_object(context, event.skill),
    )
    execution = Execution(
        key=key,
        skill=event.skill,
        predicted=dict(prediction.frames or {}),
        observed={name: np.stack(images) for name, images in observed.items()},
        actions=actions,
        predicted_actions=prediction.actions,
        keyframes=dict(request.observation.images),
        latents=dict(prediction.latents or {}),
        latent_index=prediction.latent_index,
        action_spread=prediction.action_spread,
        proprio=np.stack(proprio),
        shift=shift,
    )
    context.workspace.executions[key] = execution
    context.store.save_execution(key, _execution_arrays(execution))
    _timed(context, started)
    return {
        "pending": {
            "key": key,
            "steps": len(actions),
            "predict_s": round(predict_s, 4),
            "time_to_first_action_s": round(prediction.time_to_first_action_s, 4),
            "model": prediction.model,
        },
        "executions": [key],
        "refusal": None,
    }


def _holds_object(context: AgentContext, skill: str) -> bool:
    return skill in context.skills and context.skills[skill].holds_object


def _refused(event: EventState, reason: str) -> dict[str, Any]:
    detail = f"the executor refused '{event.next_event}' before any action: {reason}"
    record = EventRecord(
        caption=event.next_event,
        skill=event.skill,
        arguments=event.arguments,
        frames=0,
        ok=False,
        failure="other",
        note=detail,
    )
    return {
        "refusal": detail,
        "history": [record.model_dump()],
        "last_verification": Verification(ok=False, failure="other", detail=detail).model_dump(),
    }


def _execution_arrays(execution: Execution) -> dict[str, np.ndarray]:
    arrays = {"actions": execution.actions, "predicted_actions": execution.predicted_actions}
    arrays.update({f"predicted/{c}": clip for c, clip in execution.predicted.items()})
    arrays.update({f"observed/{c}": clip for c, clip in execution.observed.items()})
    arrays.update({f"keyframe/{c}": image for c, image in execution.keyframes.items()})
    arrays.update({f"latent/{c}": latent for c, latent in execution.latents.items()})
    if execution.latent_index is not None:
        arrays["latent_index"] = execution.latent_index
    if execution.action_spread is not None:
        arrays["action_spread"] = execution.action_spread
    if execution.proprio is not None:
        arrays["proprio"] = execution.proprio
    if execution.shift is not None:
        arrays["shift_name"] = np.array(execution.shift.name or "")
        arrays["shift_m"] = np.array(execution.shift.distance)
    return arrays


def _prefixed(arrays: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    return {k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith(f"{prefix}/")}


def _load_execution(context: AgentContext, key: str, skill: str) -> Execution:
    """From memory, or (after a resume) from the episode store."""
    if key in context.workspace.executions:
        return context.workspace.executions.pop(key)
    arrays = context.store.load_execution(key)
    return Execution(
        key=key,
        skill=skill,
        predicted=_prefixed(arrays, "predicted"),
        observed=_prefixed(arrays, "observed"),
        actions=arrays["actions"],
        predicted_actions=arrays["predicted_actions"],
        keyframes=_prefixed(arrays, "keyframe"),
        latents=_prefixed(arrays, "latent"),
        latent_index=arrays.get("latent_index"),
        action_spread=arrays.get("action_spread"),
        proprio=arrays.get("proprio"),
        shift=(
            SceneShift(str(arrays["shift_name"]) or None, float(arrays["shift_m"]))
            if "shift_m" in arrays
            else None
        ),
    )


# ---- verify -------------------------------------------------------------------------------------
def verify(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Compare predicted and observed frames; record the event with its evidence."""
    context = runtime.context
    event = EventState(**state["plan"])
    pending = state["pending"]
    started = time.perf_counter()
    execution = _load_execution(context, pending["key"], event.skill)
    prediction = EventPrediction(
        actions=execution.predicted_actions,
        model=pending["model"],
        time_to_first_action_s=0.0,
        total_s=0.0,
        frames=execution.predicted or None,
        latents=execution.latents or None,
        latent_index=execution.latent_index,
    )
    verdict = context.verifier.verify(
        event.skill, prediction, execution.observed, execution.keyframes
    )
    physical = physical_checks(
        _holds_object(context, event.skill),
        event.skill,
        execution.actions,
        execution.proprio,
        execution.shift,
    )
    # Every detector, recorded beside the verdict so a study scores them on the same episodes;
    # the agent acts on the divergence verdict and the grip and scene checks.
    detectors = context.detectors or Detectors(None, context.verifier.window)
    detections = detectors.detect(
        verdict,
        context.verifier.measure,
        execution.action_spread,
        len(execution.actions),
        {name: flag.step if flag else None for name, flag in physical.items()},
    )
    worst = max(verdict.cameras, key=lambda report: report.score - report.threshold)
    # Only cameras that froze or went dark diverged: the world is fine, a camera is not. No
    # regrasp can fix a camera, so the event counts as done; the fault stays in the record.
    camera_fault_only = verdict.failure == "occlusion_or_camera_fault"
    failure, detail = verdict.failure, verdict.summary()
    flagged = [flag for flag in physical.values() if flag is not None]
    if flagged:  # the world itself shows the failure: it names the failure
        failure = flagged[0].failure
        detail = "; ".join(flag.reason for flag in flagged) + f" ({detail})"
    verification = Verification(
        ok=(not verdict.diverged or camera_fault_only) and not flagged,
        divergence=round(worst.score, 4),
        threshold=round(worst.threshold, 4),
        failure=failure,
        detail=detail + ("" if verdict.calibrated else " (verifier uncalibrated)"),
    )
    # With recovery off (a study's baseline) the verdict is recorded but the agent acts blind.
    reacting = context.recovery
    record = EventRecord(
        caption=event.next_event,
        skill=event.skill,
        arguments=event.arguments,
        frames=pending["steps"],
        ok=verification.ok or not reacting,
        failure=verification.failure if reacting else "none",
        divergence=verification.divergence,
        note="" if verification.ok else verification.detail,
    )
    context.store.append_event(
        {
            "key": pending["key"],
            "plan": state["plan"],
            "attempt": state.get("attempts", 0),
            "pending": pending,
            "verdict": {
                "diverged": verdict.diverged,
                "failure": verdict.failure,
                "calibrated": verdict.calibrated,
                "measure": context.verifier.measure,
                "detection_step": verdict.detection_step,
                "cameras": [report.__dict__ for report in verdict.cameras],
                "divergence": {  # for plots: 5 decimals keep the events file small
                    camera: np.round(curve, 5).tolist()
                    for camera, curve in verdict.divergence.items()
                },
            },
            "detectors": detections,
            "progress": context.monitor.progress() if context.monitor else None,
        },
        observed=execution.observed,
        predicted=execution.predicted,
        arrays={"actions": execution.actions, "predicted_actions": execution.predicted_actions},
    )
    _timed(context, started)
    context.reporter.event("verify", key=pending["key"], verification=verification.model_dump())
    return {
        "history": [record.model_dump()],
        "last_verification": verification.model_dump(),
        "pending": None,
    }


# ---- recover ------------------------------------------------------------------------------------
RETRYING = ("regrasp", "back_off_and_retry")


def recover(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Pick the skill's next recovery strategy and record the decision with its evidence.

    The skill lists strategies in order. Attempt k uses the k-th; once the event has been
    retried retry_limit times (or the global max_retries), the retrying strategies are skipped
    for the escalating ones (replan, human takeover); past the end of the list the task fails.
    """
    context = runtime.context
    event = EventState(**state["plan"])
    skill = context.skills[event.skill]
    attempts = state.get("attempts", 0)
    limit = min(skill.retry_limit, context.budgets.max_retries)
    candidates = list(skill.recovery[attempts:])
    if attempts >= limit:
        candidates = [s for s in candidates if s not in RETRYING]
    if not _can_regrasp(state, context, event):
        candidates = [s for s in candidates if s != "regrasp"]
    if (state.get("last_verification") or {}).get("failure") == "object_displaced":
        # A block knocked aside is no fault of this event: retrying it cannot bring the block
        # back, so the planner plans again from where the cameras now see it.
        candidates = sorted(candidates, key=lambda strategy: strategy != "replan")
    strategy = candidates[0] if candidates else "give_up"
    queue: list[dict[str, Any]] = []
    if strategy == "regrasp":
        target = event.arguments["object"]
        if event.skill != "regrasp":
            regrasp = context.skills["regrasp"]
            queue.append(
                EventState(
                    next_event=regrasp.caption({"object": target}),
                    skill="regrasp",
                    arguments={"object": target},
                    frames=regrasp.typical_frames,
                    progress=event.progress,
                    decision="continue",
                    failure=(state.get("last_verification") or {}).get("failure", "other"),
                    reason=f"recovering from a failed '{event.next_event}'",
                ).model_dump()
            )
        queue.append(state["plan"])
    elif strategy == "back_off_and_retry":
        queue.append(state["plan"])
    # The execution whose verdict this answers, or the refused attempt (which has no execution).
    refused = f"refused-{len(state.get('history', []))}" if state.get("refusal") else None
    decision = {
        "key": refused or state["executions"][-1],
        "event": event.next_event,
        "skill": event.skill,
        "attempt": attempts + 1,
        "strategy": strategy,
        "evidence": state.get("last_verification"),
        "queued": [item["next_event"] for item in queue],
    }
    context.store.append_recovery(decision)
    context.reporter.event("recover", **decision)
    return {"attempts": attempts + 1, "recoveries": [decision], "queue": queue}


def _can_regrasp(state: AgentState, context: AgentContext, event: EventState) -> bool:
    """A regrasp needs a regrasp skill and an object this task has grasped (or tried to): a
    drawer whose opening failed was never grasped, and no executor can 'regrasp' it."""
    target = event.arguments.get("object")
    grasped = {
        record["arguments"].get("object")
        for record in state.get("history", [])
        if record["skill"] in ("grasp", "regrasp") and record["frames"] > 0  # not refused
    }
    return "regrasp" in context.skills and target is not None and target in grasped


# ---- finish -------------------------------------------------------------------------------------
def finish(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Decide the outcome and write the episode's metrics."""
    context = runtime.context
    plan = state.get("plan") or {}
    if context.monitor is not None:
        success, progress = context.monitor.success(), context.monitor.progress()
    else:  # no privileged view: trust the planner's own "end"
        success, progress = plan.get("decision") == "end", float(plan.get("progress", 0))
    if success:
        status = "success"
    elif state.get("stop_reason"):
        status = "budget_exhausted"
    else:
        status = "failed"
    history = state.get("history", [])
    metrics = {
        "status": status,
        "success": success,
        "progress": progress,
        "events": len(history),
        "failed_events": sum(not record["ok"] for record in history),
        "recoveries": len(state.get("recoveries", [])),
        "stop_reason": state.get("stop_reason"),
        "wall_time_s": round(context.workspace.elapsed(), 3),
        "planner": context.planner.name,
        "executor": context.executor.name,
    }
    if context.monitor is not None:
        metrics.update(context.monitor.details())  # e.g. the goal and what held at the end
    context.store.finish(metrics)
    context.reporter.event("finish", **metrics)
    return {"status": status, "elapsed_s": context.workspace.elapsed()}
