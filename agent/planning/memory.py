"""The scene as goals read it, kept between observations: what every planner and the goal's
judge see (agent/goals.Scene, built from perception)."""

from __future__ import annotations

from collections.abc import Callable

from agent.goals import Scene
from agent.perception import Scene as PerceivedScene
from agent.perception import perceive
from worldmodel.types import Observation

Perceive = Callable[[Observation], PerceivedScene]


def goal_scene(perceived: PerceivedScene) -> Scene:
    """The objects the cameras found and the relations that hold among them, as goals read."""
    present = [name for name in perceived.objects if perceived.seen(name)]
    return Scene.of(present, perceived.relations())


class SceneMemory:
    """The scene as goals read it, with the one thing a single observation cannot show: a block
    shut in the drawer is in no camera, so a block last seen in the drawer, unseen since, stays
    in it while the drawer is closed (object permanence; checkpointed with the planner's plan)."""

    def __init__(self, perceive_scene: Perceive = perceive) -> None:
        self.perceive = perceive_scene
        self.in_drawer: set[str] = set()

    def scene(self, observation: Observation) -> Scene:
        now = goal_scene(self.perceive(observation))
        facts = {str(relation) for relation in now.relations}
        self.in_drawer = {block for block in self.in_drawer if block not in now.objects}
        self.in_drawer |= {block for block in now.objects if f"in({block}, drawer)" in facts}
        if "closed(drawer)" not in facts:
            return now
        hidden = self.in_drawer - now.objects
        return Scene.of(now.objects | hidden, facts | {f"in({b}, drawer)" for b in hidden})
