"""The task suite: long-horizon tabletop tasks, their event plans, success and progress.

A task is an ordered list of subtasks (2 to 8: the task's events at the Subtask level, e.g.
"put the red block in the bowl"); each subtask expands into action-level skill calls
(`PlanStep`: skill + arguments, named as the skill files in skills/ name them) that the scripted
expert executes and that planners can follow. Each subtask has a goal predicate on the
simulator's privileged state.

Progress (0-100, like the paper's Task Progress) is the fraction of subtask goals reached in
order (a goal counts once reached, after the ones before it). Success means every subtask goal
marked `final` holds at the end (an "open the drawer" goal is not final: the drawer is closed
again later).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from agent.envs.tabletop.errors import UnknownNameError
from agent.envs.tabletop.scene import BLOCKS, near
from agent.envs.tabletop.sim import TabletopSim

FAMILIES: tuple[str, ...] = ("containers", "stacking", "sorting", "drawer", "mixed")


def display(name: str) -> str:
    """Caption form of an object id: 'red_block' -> 'the red block'."""
    return "the " + name.replace("_", " ")


def relation(target: str) -> str:
    return "in" if target in ("bowl", "drawer") else "on"


@dataclass(frozen=True)
class PlanStep:
    """One action-level event: a skill and its arguments (skills/)."""

    skill: str
    arguments: dict[str, str] = field(default_factory=dict)

    @property
    def caption(self) -> str:
        obj = display(self.arguments.get("object", "")) if "object" in self.arguments else ""
        target = display(self.arguments["target"]) if "target" in self.arguments else ""
        if self.skill == "move":
            return f"move {obj} above {target}"
        if self.skill == "place":
            return f"place {obj} {relation(self.arguments['target'])} {target}"
        if self.skill == "push":
            return f"push {obj} toward {target}" if target else f"push {obj}"
        return f"{self.skill} {obj}"


# ------------------------------------------------------------------ predicates on the state
Predicate = Callable[[TabletopSim], bool]


def is_in(obj: str, container: str) -> Predicate:
    """`obj` rests inside the bowl or the drawer tray, or on the plate."""

    def check(sim: TabletopSim) -> bool:
        g = sim.geometry
        pos, _ = sim.object_pose(obj)
        if sim.held_object(0) == obj:
            return False
        if container == "drawer":
            base, _ = sim.object_pose("drawer")  # the tray's body: it moves with the slide
            local = pos - base
            inner = g.drawer_inner_half
            return bool(
                abs(local[0]) < inner and abs(local[1]) < inner and local[2] < g.drawer_floor + 0.03
            )
        centre, _ = sim.object_pose(container)
        horizontal = float(np.linalg.norm(pos[:2] - centre[:2]))
        if container == "bowl":
            return horizontal < g.bowl_radius - 0.01 and pos[2] - centre[2] < g.bowl_floor + 0.03
        return horizontal < g.plate_radius and pos[2] - centre[2] < g.plate_height + 0.03

    return check


def is_on_block(obj: str, below: str) -> Predicate:
    def check(sim: TabletopSim) -> bool:
        top, _ = sim.object_pose(obj)
        base, _ = sim.object_pose(below)
        half = sim.geometry.block_half
        dz = top[2] - base[2]
        return (
            sim.held_object(0) != obj
            and float(np.linalg.norm(top[:2] - base[:2])) < half
            and abs(dz - 2 * half) < 0.01
        )

    return check


def is_near(obj: str, target: str) -> Predicate:
    """obj rests next to target: their footprints at most scene.NEAR_GAP apart on the table."""

    def check(sim: TabletopSim) -> bool:
        a, _ = sim.object_pose(obj)
        b, _ = sim.object_pose(target)
        return near(obj, a, target, b)

    return check


def drawer_open(sim: TabletopSim) -> bool:
    return sim.drawer_opening() > 0.1


def drawer_closed(sim: TabletopSim) -> bool:
    return sim.drawer_opening() < 0.015


# ---------------------------------------------------------------------- subtasks
@dataclass(frozen=True)
class Subtask:
    """One subtask event: its caption, its action-level plan and its goal."""

    caption: str
    steps: tuple[PlanStep, ...]
    goal: Predicate
    final: bool = True


def pick_place(obj: str, target: str) -> Subtask:
    args = {"object": obj, "target": target}
    only = {"object": obj}
    steps = (
        PlanStep("reach", only),
        PlanStep("grasp", only),
        PlanStep("lift", only),
        PlanStep("move", args),
        PlanStep("place", args),
        PlanStep("release", only),
    )
    if target in BLOCKS:
        return Subtask(
            f"stack {display(obj)} on {display(target)}", steps, is_on_block(obj, target)
        )
    return Subtask(
        f"put {display(obj)} {relation(target)} {display(target)}", steps, is_in(obj, target)
    )


def open_drawer() -> Subtask:
    return Subtask(
        "open the drawer", (PlanStep("open", {"object": "drawer"}),), drawer_open, final=False
    )


def close_drawer() -> Subtask:
    return Subtask("close the drawer", (PlanStep("close", {"object": "drawer"}),), drawer_closed)


def push_toward(obj: str, target: str) -> Subtask:
    return Subtask(
        f"push {display(obj)} next to {display(target)}",
        (PlanStep("push", {"object": obj, "target": target}),),
        is_near(obj, target),
    )


# -------------------------------------------------------------------------- tasks
@dataclass(frozen=True)
class Task:
    """A long-horizon task: family, paraphrases (the first is canonical) and subtasks."""

    name: str
    family: str
    paraphrases: tuple[str, ...]
    subtasks: tuple[Subtask, ...]

    @property
    def instruction(self) -> str:
        return self.paraphrases[0]

    def plan(self) -> list[tuple[int, PlanStep]]:
        """The ordered action-level events, each with the index of its subtask."""
        return [(i, step) for i, sub in enumerate(self.subtasks) for step in sub.steps]

    @property
    def objects(self) -> frozenset[str]:
        """Every object the task's events name (a scene must hold them all)."""
        return frozenset(name for _, step in self.plan() for name in step.arguments.values())

    def success(self, sim: TabletopSim) -> bool:
        return all(sub.goal(sim) for sub in self.subtasks if sub.final)


class ProgressTracker:
    """Task progress: subtask goals reached in order, latched (0-100)."""

    def __init__(self, task: Task):
        self.task = task
        self.reached = 0

    def update(self, sim: TabletopSim) -> float:
        while self.reached < len(self.task.subtasks) and self.task.subtasks[self.reached].goal(sim):
            self.reached += 1
        return self.progress

    @property
    def progress(self) -> float:
        return 100.0 * self.reached / len(self.task.subtasks)


def _task(name: str, family: str, paraphrases: list[str], subtasks: list[Subtask]) -> Task:
    return Task(name, family, tuple(paraphrases), tuple(subtasks))


PP = pick_place
TASKS: dict[str, Task] = {
    task.name: task
    for task in [
        _task(
            "bowl_red_blue",
            "containers",
            [
                "put the red block and the blue block in the bowl",
                "place both the red and the blue blocks into the bowl",
                "the red block goes in the bowl, and so does the blue one",
            ],
            [PP("red_block", "bowl"), PP("blue_block", "bowl")],
        ),
        _task(
            "plate_green_yellow",
            "containers",
            [
                "put the green block and the yellow block on the plate",
                "set the green and yellow blocks onto the plate",
                "move the green block to the plate, then the yellow block too",
            ],
            [PP("green_block", "plate"), PP("yellow_block", "plate")],
        ),
        _task(
            "bowl_and_plate",
            "containers",
            [
                "put the red block in the bowl, the yellow block in the bowl and the blue "
                "block on the plate",
                "fill the bowl with the red and yellow blocks and put the blue one on the plate",
                "red and yellow blocks into the bowl, blue block onto the plate",
            ],
            [PP("red_block", "bowl"), PP("yellow_block", "bowl"), PP("blue_block", "plate")],
        ),
        _task(
            "stack_three",
            "stacking",
            [
                "stack the green block on the blue block, then the red block on the green block",
                "build a tower: blue at the bottom, then green, then red on top",
                "make a three-block tower of blue, green and red, bottom to top",
            ],
            [PP("green_block", "blue_block"), PP("red_block", "green_block")],
        ),
        _task(
            "stack_four",
            "stacking",
            [
                "stack all four blocks into one tower: yellow, blue, green, red from the bottom",
                "build a four-block tower with the yellow block at the base and red on top",
                "put blue on yellow, green on blue and red on green",
            ],
            [
                PP("blue_block", "yellow_block"),
                PP("green_block", "blue_block"),
                PP("red_block", "green_block"),
            ],
        ),
        _task(
            "two_towers",
            "stacking",
            [
                "stack the green block on the blue block and the yellow block on the red block",
                "make two towers: green on blue, yellow on red",
                "build two two-block stacks, green over blue and yellow over red",
            ],
            [PP("green_block", "blue_block"), PP("yellow_block", "red_block")],
        ),
        _task(
            "sort_warm_cool",
            "sorting",
            [
                "sort the blocks by colour: warm colours in the bowl, cool colours on the plate",
                "put the red and yellow blocks in the bowl and the green and blue ones on the "
                "plate",
                "warm-coloured blocks go into the bowl, cool-coloured blocks onto the plate",
            ],
            [
                PP("red_block", "bowl"),
                PP("yellow_block", "bowl"),
                PP("green_block", "plate"),
                PP("blue_block", "plate"),
            ],
        ),
        _task(
            "sort_red_green",
            "sorting",
            [
                "sort the red and green blocks: red in the bowl, green on the plate",
                "the red block belongs in the bowl and the green block on the plate",
                "separate red from green: red into the bowl, green onto the plate",
            ],
            [PP("red_block", "bowl"), PP("green_block", "plate")],
        ),
        _task(
            "sort_blue_yellow",
            "sorting",
            [
                "sort by colour: the blue block in the bowl, the yellow block on the plate, "
                "then the green block in the bowl with the blue one",
                "blue into the bowl, yellow onto the plate, and green in the bowl as well",
                "put the blue and green blocks in the bowl and the yellow block on the plate",
            ],
            [PP("blue_block", "bowl"), PP("yellow_block", "plate"), PP("green_block", "bowl")],
        ),
        _task(
            "drawer_red",
            "drawer",
            [
                "open the drawer, put the red block inside and close it",
                "stow the red block in the drawer and shut the drawer",
                "pull the drawer open, drop the red block in, and push it closed",
            ],
            [open_drawer(), PP("red_block", "drawer"), close_drawer()],
        ),
        _task(
            "drawer_two",
            "drawer",
            [
                "open the drawer, put the blue and yellow blocks in it, then close it",
                "store the blue block and the yellow block in the drawer and close the drawer",
                "put away the blue and yellow blocks in the drawer",
            ],
            [
                open_drawer(),
                PP("blue_block", "drawer"),
                PP("yellow_block", "drawer"),
                close_drawer(),
            ],
        ),
        _task(
            "drawer_green",
            "drawer",
            [
                "hide the green block in the drawer",
                "open the drawer, place the green block in it and close the drawer",
                "put the green block away in the drawer and shut it",
            ],
            [open_drawer(), PP("green_block", "drawer"), close_drawer()],
        ),
        _task(
            "push_then_bowl",
            "mixed",
            [
                "push the yellow block next to the plate, then put the red block in the bowl",
                "slide the yellow block over to the plate and drop the red block into the bowl",
                "nudge the yellow block toward the plate; afterwards the red block goes in the "
                "bowl",
            ],
            [push_toward("yellow_block", "plate"), PP("red_block", "bowl")],
        ),
        _task(
            "drawer_then_stack",
            "mixed",
            [
                "put the green block in the drawer and close it, then stack the red block on the "
                "blue block",
                "stow the green block in the drawer, shut it, and put red on top of blue",
                "green block into the drawer, drawer closed, red block stacked on blue",
            ],
            [
                open_drawer(),
                PP("green_block", "drawer"),
                close_drawer(),
                PP("red_block", "blue_block"),
            ],
        ),
        _task(
            "tidy_table",
            "mixed",
            [
                "tidy the table: red block in the bowl, blue block on the plate, yellow block in "
                "the drawer, and push the green block next to the bowl",
                "clean up: the red block into the bowl, the blue one onto the plate, the yellow "
                "one into the drawer (close it), and the green block beside the bowl",
                "put red in the bowl and blue on the plate, stow yellow in the drawer, then move "
                "green next to the bowl",
            ],
            [
                PP("red_block", "bowl"),
                PP("blue_block", "plate"),
                open_drawer(),
                PP("yellow_block", "drawer"),
                close_drawer(),
                push_toward("green_block", "bowl"),
            ],
        ),
    ]
}


def get_task(name: str) -> Task:
    """The task called `name`; a typo gets the closest names suggested."""
    if name in TASKS:
        return TASKS[name]
    close = difflib.get_close_matches(name, list(TASKS), n=3)
    hint = f"; did you mean {close}?" if close else ""
    raise UnknownNameError(f"unknown task {name!r}{hint} Tasks: {sorted(TASKS)}")


def tasks_of(family: str) -> list[Task]:
    if family not in FAMILIES:
        raise UnknownNameError(f"unknown task family {family!r}; expected one of {FAMILIES}")
    return [task for task in TASKS.values() if task.family == family]


def paraphrase(task: Task, seed: int) -> str:
    """A seeded choice among the task's paraphrases (seed 0 gives the canonical instruction)."""
    return task.paraphrases[seed % len(task.paraphrases)] if seed else task.instruction
