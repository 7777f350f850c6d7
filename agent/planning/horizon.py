"""How many control steps to ask the executor for: the skill's horizon from the event's targets.

A skill file may say that its events last as long as the hand's travel (`horizon`, agent/skills.py):
whatever the planner proposed (the embedded planner typical_frames, a VLM its own guess), such an
event gets the horizon's length from where the hand is to its target. The expert's reach takes
11 to 23 steps, 36 per metre from the hand to the block plus 4 (0.5 steps mean error over 264
reaches of all 15 tasks), so one fixed length is too short for a far block: a learned model
trained on the expert's lengths and asked for fewer stops short. Asked for 16 steps, the
fault-free stack_three runs that failed were exactly the 5 seeds whose first reach the expert
takes 19-22 steps: the block, held by an edge, left the fingers in the lift."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from agent.skills import Skill
from agent.state import EventState
from worldmodel.types import Observation

# The tabletop's proprio starts with the hand's position in the base frame (metres), where the
# targets' positions are too (agent/envs/tabletop/sim.py).
HAND = slice(0, 3)


def travel_frames(
    skill: Skill,
    arguments: Mapping[str, str],
    positions: Mapping[str, Sequence[float]],
    proprio: np.ndarray,
) -> int | None:
    """The skill's horizon from the hand (proprio) to the position of its `towards` argument's
    object (`positions`: object -> table position); None without a horizon or that position."""
    horizon = skill.horizon
    if horizon is None:
        return None
    position = positions.get(arguments.get(horizon.towards, ""))
    hand = np.asarray(proprio, dtype=np.float64)[HAND]
    if position is None or len(hand) < 3:
        return None
    travel = np.subtract(position, hand)
    return horizon.frames(float(np.linalg.norm(travel[:2] if horizon.across else travel)))


def event_frames(skill: Skill, event: EventState, observation: Observation) -> int:
    """The event's length in control steps: its skill's horizon from where the hand is to its
    targets (travel_frames), else the frames the planner gave."""
    positions = {t.name: t.position for t in event.targets if t.position is not None}
    frames = travel_frames(skill, event.arguments, positions, observation.proprio)
    return event.frames if frames is None else frames
