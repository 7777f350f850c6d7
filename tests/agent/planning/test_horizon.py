"""An event's frames from its skill's horizon: from where the hand is to its target's position."""

from __future__ import annotations

import numpy as np

from agent.planning.horizon import event_frames
from agent.skills import SkillCatalogue
from agent.state import EventState, Target
from worldmodel.types import Observation

SKILLS = SkillCatalogue.load()


def event(skill: str, arguments: dict[str, str], *targets: Target, frames: int = 16) -> EventState:
    return EventState(
        next_event=SKILLS[skill].caption(arguments),
        skill=skill,
        arguments=arguments,
        frames=frames,
        progress=0,
        decision="continue",
        reason="a test event",
        targets=list(targets),
    )


def hand_at(x: float, y: float, z: float) -> Observation:
    proprio = np.zeros(7, np.float32)
    proprio[:3] = (x, y, z)
    return Observation(cameras=(), images={}, proprio=proprio, timestamp=0.0, step=0)


def test_a_far_reach_is_asked_for_more_frames_than_a_near_one():
    block = Target(role="object", name="red_block", position=(0.3, 0.0, 0.02))
    reach = event("reach", {"object": "red_block"}, block)
    near = event_frames(SKILLS["reach"], reach, hand_at(0.3, 0.0, 0.22))  # 0.2 m above it
    far = event_frames(SKILLS["reach"], reach, hand_at(-0.1, -0.3, 0.22))  # 0.54 m away
    assert (near, far) == (12, 24)  # ceil(4.1 + 36.4 d): the expert's 11-23 step reaches


def test_a_carry_counts_the_distance_across_the_table():
    bowl = Target(role="destination", name="bowl", position=(0.0, 0.3, 0.02))
    move = event("move", {"object": "red_block", "target": "bowl"}, bowl, frames=12)
    # 0.3 m across, 0.18 m up: only the 0.3 m counts, ceil(1.5 + 33 * 0.3) = 12
    assert event_frames(SKILLS["move"], move, hand_at(0.0, 0.0, 0.2)) == 12


def test_without_a_position_or_a_horizon_the_event_keeps_its_frames():
    unseen = Target(role="object", name="red_block")
    reach = event("reach", {"object": "red_block"}, unseen, frames=16)
    assert event_frames(SKILLS["reach"], reach, hand_at(0.0, 0.0, 0.2)) == 16
    grasp = event("grasp", {"object": "red_block"}, frames=7)
    assert event_frames(SKILLS["grasp"], grasp, hand_at(0.0, 0.0, 0.2)) == 7
