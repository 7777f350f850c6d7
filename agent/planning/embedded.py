"""The embedded planner: the instruction read into a goal, planned from the perceived scene.

At the start it perceives the scene in the cameras (agent.perception), reads the instruction into
a goal grounded in that scene (agent.goals: stages of relations; an absent object or an
unreadable instruction is refused before anything moves) and plans the goal's first stage with
PDDL compiled from the skill files (pyperplan). It then hands out that plan one event at a time,
and plans again from the perceived scene when an event failed or diverged, when something else
ran in between (a recovery's regrasp), and when the plan is spent. Its plan and stage go into
the run's checkpoint (`memory_state`), so a resumed run carries on with them. It says "end" when
the cameras show the goal's last stage holding, so its end is what the scene shows, never its
own reading of the instruction.

Stages are taken in order and never revisited: a stage once reached stays behind, even when its
relations stop holding because a later stage moves the same block on.

With `replan` off (`--no-recovery`, a study's baseline) each stage is planned once and its plan
is carried out blind: when it is spent the next stage is planned, and after the last the planner
ends, whatever the cameras show; the goal then judges the run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from agent.goals import Goal, GoalInputError, Scene, UnsolvableGoalError, read_goal
from agent.goals.planner import Planner, SkillCall
from agent.planning.base import without_event
from agent.planning.memory import SceneMemory
from agent.skills import SkillCatalogue
from agent.state import EventRecord, EventState, Verification
from worldmodel.types import Observation

if TYPE_CHECKING:
    from agent.run_spec import RunSpec


def build(spec: RunSpec, skills: SkillCatalogue, memory: SceneMemory) -> GoalPlanner:
    """The registry's entry: replanning follows the run's recovery setting."""
    return GoalPlanner(skills, memory, replan=spec.recovery)


class GoalPlanner:
    """Plans every event of a goal from what the cameras show; see the module docstring."""

    name = "embedded"

    def __init__(
        self, skills: SkillCatalogue, memory: SceneMemory | None = None, replan: bool = True
    ) -> None:
        self.skills = skills
        self.memory = memory or SceneMemory()
        self.replan = replan
        self.solver = Planner([skill for skill in skills.values() if skill.planning])
        self.goal: Goal | None = None
        self.stage = 0  # the stage being worked on
        self.steps: list[SkillCall] = []  # the rest of its plan; steps[0] is the event handed out

    def understand(self, instruction: str, observation: Observation, scene: Scene) -> Goal:
        """Read the instruction into the goal this planner plans, in the scene the cameras show.

        Raises agent.goals.MissingObjectError or ClarificationError (bad input: nothing moves).
        """
        self.goal = read_goal(instruction, scene)
        return self.goal

    def plan(
        self,
        instruction: str,
        observation: Observation,
        history: Sequence[EventRecord],
        last_verification: Verification | None,
    ) -> EventState:
        scene = self.memory.scene(observation)
        goal = self.goal or self.understand(instruction, observation, scene)
        last = history[-1] if history else None
        went_wrong = last is not None and not last.ok
        handed_out = self.steps[0] if self.steps else None
        if handed_out is not None and last is not None and last.ok and _same(last, handed_out):
            self.steps.pop(0)  # the event handed out was done: its plan goes on
            if not self.steps and not self.replan:
                self.stage += 1  # planned once, carried out blind: on to the next stage
        elif handed_out is not None:
            self.steps = []  # it failed, or something else ran: plan again from the cameras
        # Between events of a plan the plan is followed; once it is spent (or dropped) the latest
        # stage the cameras show holding is behind us.
        if self.replan and not self.steps:
            holding = goal.stages_holding(scene.relations)
            reached = max((i for i, held in enumerate(holding) if held), default=-1)
            if reached + 1 > self.stage:
                self.stage, self.steps = reached + 1, []
        while self.stage < len(goal.stages) and not self.steps:
            try:
                self.steps = self.solver.plan(scene, goal.stages[self.stage])
            except (GoalInputError, UnsolvableGoalError) as exc:
                if not history:
                    raise  # before anything ran: the instruction asks what cannot be done
                # Mid-run the goal was readable and plannable, so this is the world, not the
                # instruction: a block knocked out of sight, say. A person decides (a run
                # without one stops there, resumable; a study counts the case as failed).
                progress = round(100 * self.stage / len(goal.stages))
                reason = f"no plan from what the cameras show now: {exc}"
                return without_event("takeover", reason, history, progress)
            if not self.steps:  # the stage holds already: on to the next
                self.stage += 1
        if self.stage >= len(goal.stages):
            return _end(goal, history)
        return self._next(goal, went_wrong, last)

    def _next(self, goal: Goal, went_wrong: bool, last: EventRecord | None) -> EventState:
        """The event steps[0], in words, with where the goal stands."""
        call = self.steps[0]
        progress = round(100 * self.stage / len(goal.stages))
        return EventState(
            next_event=self.caption(call),
            skill=call.skill,
            arguments=call.arguments,
            frames=self.skills[call.skill].typical_frames,
            progress=min(progress, 99),
            decision="replan" if went_wrong else "continue",
            failure=last.failure if went_wrong and last is not None else "none",
            reason=f"stage {self.stage + 1} of {len(goal.stages)} "
            f"({goal.stages[self.stage].words()}): {len(self.steps)} event(s) to go",
        )

    def upcoming_captions(self) -> list[str]:
        """The captions of the plan in hand, the event handed out first: what a learned executor
        can embed ahead, all at once (agent/graph/nodes.py)."""
        return [self.caption(call) for call in self.steps]

    def memory_state(self) -> dict[str, Any]:
        """The plan in hand, for the run's checkpoint (see restore_memory)."""
        return {
            "stage": self.stage,
            "steps": [[call.skill, dict(call.arguments)] for call in self.steps],
            "in_drawer": sorted(self.memory.in_drawer),
        }

    def restore_memory(self, state: dict[str, Any]) -> None:
        """Continue the plan a checkpoint holds (a resumed run)."""
        self.stage = int(state["stage"])
        self.steps = [SkillCall(skill, dict(arguments)) for skill, arguments in state["steps"]]
        self.memory.in_drawer = set(state["in_drawer"])

    def caption(self, call: SkillCall) -> str:
        """The event in words, from the skill's caption templates ("in the bowl", "on the
        plate": a skill whose second template is for surfaces uses it for them)."""
        skill = self.skills[call.skill]
        target = call.arguments.get("target", "")
        on_a_surface = len(skill.captions) > 1 and target and target not in ("bowl", "drawer")
        return skill.caption(call.arguments, 1 if on_a_surface else 0)


def _same(record: EventRecord, call: SkillCall) -> bool:
    return record.skill == call.skill and dict(record.arguments) == dict(call.arguments)


def _end(goal: Goal, history: Sequence[EventRecord]) -> EventState:
    return without_event("end", f"the cameras show the goal met: {goal.words()}", history, 100)
