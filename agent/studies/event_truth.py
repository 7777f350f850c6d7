"""A study's ground truth of every event: what the simulator's own state says the event did.

The fault log says where the study struck, not where the executor failed on its own: a grasp of
the learned model that closes beside the block fails with no fault logged, and the flags of the
events after it counted as false alarms. So the study replays each episode in a fresh simulator
(reset with its seed, the recorded actions stepped as resume does; the replayed proprio must
equal the recorded one) and judges the state after every event against what its skill must
leave behind:

- a skill that holds its object (`holds_object` in its file) ends holding it, else the event
  failed as FAILURE_BY_SKILL says (missed_grasp, grasp_slip);
- a release ends with its object let go ("other" if still held);
- no block the event leaves alone moved more than SCENE_SHIFT_M, and a block it let go of did
  not slide off where it was let go ("object_displaced"): the scene check's rule, on the
  simulator's positions instead of perception's.

A reach is not judged: it changes nothing in the world, and a reach that stops short shows in
the grasp or the lift after it. The agent never sees any of this; only the study's scoring does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from agent.envs.registry import load_environment
from agent.episode import EpisodeStore
from agent.perception.scene import Scene
from agent.run_spec import RunSpec
from agent.skills import SkillCatalogue
from agent.verify.physical import untouched_shift
from agent.verify.verifier import FAILURE_BY_SKILL

# The replay is the recorded run when every proprio value agrees to this (metres, radians): the
# simulator is deterministic, so any real difference is a different world, and truth is unknown.
REPLAY_TOLERANCE = 1e-5


@dataclass(frozen=True)
class Replay:
    """One episode stepped again in a fresh simulator."""

    scenes: list[Scene]  # the true scene after reset, then after each recorded event
    fault_log: list[dict[str, Any]]  # the simulator's fault log (the study's faults)
    proprio_error: float  # the largest difference from the proprio the run recorded


def replay_episode(store: EpisodeStore) -> Replay | None:
    """Replay a recorded episode in a fresh simulator of its spec; None for an environment
    without a true scene (a real robot)."""
    spec = RunSpec.from_dict(store.header["spec"])
    environment = load_environment(spec.environment)
    true_scene: Callable[[Any], Scene] | None = getattr(environment, "true_scene", None)
    if true_scene is None:
        return None
    robot = environment.build(spec)
    try:
        robot.reset(spec.seed)
        scenes, error = [true_scene(robot)], 0.0
        for event in store.events:
            arrays = store.load_execution(event.record["pending"]["key"])
            recorded = arrays.get("proprio")
            for step, action in enumerate(arrays["actions"]):
                observation = robot.step(action)
                if recorded is not None and step < len(recorded):
                    difference = np.abs(np.asarray(observation.proprio) - recorded[step])
                    error = max(error, float(difference.max()))
            scenes.append(true_scene(robot))
        faults = getattr(robot, "faults", None)
        return Replay(scenes, list(faults.log) if faults else [], error)
    finally:
        robot.close()


def event_failure(
    skill: str, arguments: Mapping[str, str], holds_object: bool, before: Scene, after: Scene
) -> str | None:
    """How the event failed in the world (a class of the failure taxonomy); None if it did
    what its skill must."""
    held = arguments.get("object")
    if holds_object and held and after.holding != held:
        return FAILURE_BY_SKILL.get(skill, "other")
    if skill == "release" and held and after.holding == held:
        return "other"
    if untouched_shift(before, after, arguments.values(), holds_object).moved:
        return "object_displaced"
    return None


def own_failures(store: EpisodeStore, replay: Replay) -> list[str | None]:
    """The failure of every recorded event by the simulator's state (None: it did its job)."""
    skills = SkillCatalogue.load(RunSpec.from_dict(store.header["spec"]).skills_dirs)
    failures: list[str | None] = []
    for index, event in enumerate(store.events):
        plan = event.record["plan"]
        skill, arguments = plan["skill"], plan.get("arguments") or {}
        holds = skill in skills and skills[skill].holds_object
        before, after = replay.scenes[index], replay.scenes[index + 1]
        failures.append(event_failure(skill, arguments, holds, before, after))
    return failures
