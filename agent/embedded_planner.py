"""The embedded planner: deterministic, offline, no VLM. The default when no server is configured.

It reads the instruction once into subgoals (pick-and-place, open, close, push), expands them into
action-level events with the skill catalogue's caption templates, and then, at every call, walks
the event history to find where the task stands:

1. An instruction that is one of the known tasks' paraphrases (the task suite) takes that task's
   subgoals.
2. Otherwise a small grammar reads placements such as "put the red and blue blocks in the bowl",
   "stack green on blue", "open the drawer", "push the yellow block toward the plate".
3. Otherwise the known task whose paraphrase is closest in MiniLM sentence embedding is taken if
   the cosine similarity reaches `loose_match` ("build a tower: blue at the bottom..."); else the
   planner refuses with advice (a VLM planner or --human can take such instructions).
   Similarity never overrides the grammar: "put the red block in the bowl, then stack green on
   blue" lies close to "put the red and blue blocks in the bowl", which is another task.

After a failed event the same event is planned again, except that a lost grasp during transport
(move, place) sends the plan back to reaching the object; a successful regrasp counts as reach,
grasp and lift done.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from agent.perception import perceive
from agent.perception.targets import fill_targets
from agent.skills import SkillCatalogue
from agent.state import EventRecord, EventState, Verification
from worldmodel.errors import WallwmError
from worldmodel.types import Observation

SubgoalKind = Literal["pick_place", "open", "close", "push"]
COLOURS = ("red", "green", "blue", "yellow")
CONTAINERS = ("bowl", "plate", "drawer")
PICK_PLACE_SKILLS = ("reach", "grasp", "lift", "move", "place", "release")
LOST_GRASP_SKILLS = ("move", "place")  # a failure here means the object is no longer held


class PlanningError(WallwmError):
    """The embedded planner cannot read the instruction."""


@dataclass(frozen=True)
class Subgoal:
    kind: SubgoalKind
    object: str
    target: str | None = None


@dataclass(frozen=True)
class KnownTask:
    """A task the planner knows by name: its paraphrases and its subgoals in order."""

    name: str
    paraphrases: tuple[str, ...]
    subgoals: tuple[Subgoal, ...]


@dataclass(frozen=True)
class PlannedEvent:
    skill: str
    arguments: dict[str, str]
    subgoal: int  # index of the subgoal it belongs to


# ---- the grammar --------------------------------------------------------------------------------
# A placement is "<colours> <relation> <target>": "the red and blue blocks into the bowl",
# "green on blue", "the yellow one next to the plate". Verbs only decide push vs pick-and-place.
_COLOUR = r"(?:red|green|blue|yellow)"
_NOUN = r"(?:\s+(?:blocks?|ones?|cubes?))?"
_GROUP = rf"(?:the\s+)?{_COLOUR}{_NOUN}(?:\s*(?:,|and|&)\s*(?:the\s+)?{_COLOUR}{_NOUN})*"
_RELATION = (
    r"(?P<relation>next\s+to|beside|toward|towards|near|on\s+top\s+of|into|inside|in|onto|on"
    r"|over|to)"
)
_TARGET = rf"(?:the\s+)?(?P<target>bowl|plate|drawer|{_COLOUR})(?:\s+(?:block|one))?\b"
_PLACEMENT = re.compile(
    rf"(?P<group>{_GROUP})\s+(?:\w+\s+){{0,2}}?{_RELATION}\s+{_TARGET}", re.IGNORECASE
)
# "put the red block inside", "in it", "drop it in": the drawer, when the drawer is mentioned.
_INTO_DRAWER = re.compile(
    rf"(?P<group>{_GROUP})\s+(?:\w+\s+){{0,1}}?(?:inside|in\s+it|in)\b(?!\s+(?:the|a)\b)",
    re.IGNORECASE,
)
_PUSH_VERB = re.compile(r"\b(?:push|slide|nudge|shove)\b", re.IGNORECASE)
_PUSH_RELATIONS = ("next to", "beside", "toward", "towards", "near")
_OPEN = re.compile(r"\bopen\b", re.IGNORECASE)
_CLOSE = re.compile(r"\b(?:close|closed|shut)\b", re.IGNORECASE)


def _block(word: str) -> str:
    word = word.lower()
    return word if word in CONTAINERS else f"{word}_block"


def parse_instruction(instruction: str) -> list[Subgoal]:
    """Subgoals in the order the instruction states them; [] when nothing is understood."""
    text = instruction.lower()
    found: list[tuple[int, Subgoal]] = []
    for match in _PLACEMENT.finditer(text):
        target = _block(match["target"])
        relation = re.sub(r"\s+", " ", match["relation"])
        clause_start = max(
            text.rfind(sep, 0, match.start()) for sep in (",", ";", " then ", " and ")
        )
        pushed = relation in _PUSH_RELATIONS or _PUSH_VERB.search(
            text, clause_start + 1, match.start()
        )
        for offset, colour in enumerate(re.findall(_COLOUR, match["group"])):
            kind: SubgoalKind = "push" if pushed else "pick_place"
            found.append((match.start() + offset, Subgoal(kind, _block(colour), target)))
    if "drawer" in text:
        for match in _INTO_DRAWER.finditer(text):
            for offset, colour in enumerate(re.findall(_COLOUR, match["group"])):
                found.append(
                    (match.start() + offset, Subgoal("pick_place", _block(colour), "drawer"))
                )
        found += [(m.start(), Subgoal("open", "drawer")) for m in _OPEN.finditer(text)]
        found += [(m.start(), Subgoal("close", "drawer")) for m in _CLOSE.finditer(text)]
    subgoals = [subgoal for _, subgoal in sorted(found, key=lambda item: item[0])]
    # Putting something into the drawer needs it open first.
    first_drawer = next(
        (i for i, g in enumerate(subgoals) if g.kind == "pick_place" and g.target == "drawer"), None
    )
    if first_drawer is not None and not any(g.kind == "open" for g in subgoals[:first_drawer]):
        subgoals.insert(first_drawer, Subgoal("open", "drawer"))
    return subgoals


# ---- the planner --------------------------------------------------------------------------------
Embed = Callable[[list[str]], np.ndarray]  # captions -> (N, D) unit vectors


def minilm_embedder() -> Embed:
    """MiniLM sentence embeddings, bundled offline (the same encoder the tiny model reads)."""
    from worldmodel.text import MiniLMEncoder

    encoder = MiniLMEncoder()
    return lambda texts: encoder.encode(texts)[:, 0].numpy()


class EmbeddedPlanner:
    """Plans every event of an instruction it understands; see the module docstring."""

    name = "embedded"

    def __init__(
        self,
        skills: SkillCatalogue,
        known_tasks: Sequence[KnownTask] = (),
        embed: Embed | None = None,
        loose_match: float = 0.75,
    ) -> None:
        self.skills = skills
        self.known_tasks = list(known_tasks)
        self.embed = embed
        self.loose_match = loose_match
        self._phrases = [(t, p) for t in self.known_tasks for p in t.paraphrases]
        self._phrase_vectors: np.ndarray | None = None
        self._cache: dict[str, tuple[list[Subgoal], str]] = {}

    def _nearest_task(self, instruction: str) -> tuple[KnownTask | None, float]:
        """The known task with the closest paraphrase in MiniLM space, and the cosine."""
        if not self._phrases or self.embed is None:
            return None, 0.0
        if self._phrase_vectors is None:
            self._phrase_vectors = self.embed([p for _, p in self._phrases])
        scores = self._phrase_vectors @ self.embed([instruction])[0]  # (P,)
        best = int(np.argmax(scores))
        return self._phrases[best][0], float(scores[best])

    def read(self, instruction: str) -> tuple[list[Subgoal], str]:
        """(subgoals, how they were found) for an instruction; raises PlanningError."""
        if instruction in self._cache:
            return self._cache[instruction]
        normalized = " ".join(instruction.lower().split())
        exact = next((t for t, p in self._phrases if p.lower() == normalized), None)
        if exact is not None:
            result = (list(exact.subgoals), f"known task {exact.name}")
        elif parsed := parse_instruction(instruction):
            result = (parsed, "grammar")
        else:
            task, score = self._nearest_task(instruction)
            if task is None or score < self.loose_match:
                raise PlanningError(
                    f"the embedded planner cannot read {instruction!r}: name blocks by colour "
                    "(red, green, blue, yellow) and places (bowl, plate, drawer), e.g. 'put the "
                    "red block in the bowl, then stack green on blue'; or plan with a VLM "
                    "(--vlm-url) or a person (--human)"
                )
            result = (list(task.subgoals), f"closest known task {task.name} ({score:.2f})")
        self._cache[instruction] = result
        return result

    def events(self, subgoals: Sequence[Subgoal]) -> list[PlannedEvent]:
        """Action-level events of the subgoals, in order."""
        events: list[PlannedEvent] = []
        for index, goal in enumerate(subgoals):
            if goal.kind == "pick_place":
                for skill in PICK_PLACE_SKILLS:
                    arguments = {"object": goal.object}
                    if skill in ("move", "place"):
                        arguments["target"] = goal.target or ""
                    events.append(PlannedEvent(skill, arguments, index))
            elif goal.kind == "push":
                events.append(
                    PlannedEvent(
                        "push", {"object": goal.object, "target": goal.target or ""}, index
                    )
                )
            else:
                events.append(PlannedEvent(goal.kind, {"object": goal.object}, index))
        return events

    @staticmethod
    def position(events: Sequence[PlannedEvent], history: Sequence[EventRecord]) -> int:
        """How many planned events are done, replaying the history."""
        done = 0
        for record in history:
            if done >= len(events):
                break
            expected = events[done]
            same_subgoal = [i for i, e in enumerate(events) if e.subgoal == expected.subgoal]
            if record.skill == "regrasp" and record.ok:
                # a regrasp reaches, grasps and lifts again: continue after this subgoal's lift
                lifts = [i for i in same_subgoal if events[i].skill == "lift"]
                done = lifts[0] + 1 if lifts else done
            elif record.skill == expected.skill and record.arguments == expected.arguments:
                if record.ok:
                    done += 1
                elif record.skill in LOST_GRASP_SKILLS:
                    done = same_subgoal[0]  # the object was lost: reach it again
        return done

    def caption(self, event: PlannedEvent) -> str:
        skill = self.skills[event.skill]
        template = 0
        if event.skill == "place" and len(skill.captions) > 1:
            target = event.arguments.get("target", "")
            template = 0 if target in ("bowl", "drawer") else 1  # "in the bowl" / "on the plate"
        return skill.caption(event.arguments, template)

    def plan(
        self,
        instruction: str,
        observation: Observation,
        history: Sequence[EventRecord],
        last_verification: Verification | None,
    ) -> EventState:
        subgoals, source = self.read(instruction)
        events = self.events(subgoals)
        done = self.position(events, history)
        progress = round(100 * done / len(events))
        if done >= len(events):
            last = events[-1]
            return EventState(
                next_event="end",
                skill=last.skill,
                arguments=last.arguments,
                frames=1,
                progress=100,
                decision="end",
                reason=f"all {len(events)} events done ({source})",
            )
        event = events[done]
        failed = bool(history) and not history[-1].ok
        state = EventState(
            next_event=self.caption(event),
            skill=event.skill,
            arguments=event.arguments,
            frames=self.skills[event.skill].typical_frames,
            progress=progress,
            decision="replan" if failed else "continue",
            failure=history[-1].failure if failed else "none",
            reason=f"event {done + 1} of {len(events)} ({source})",
        )
        # where the event's object and destination are, from the cameras (no simulator state)
        return fill_targets(state, perceive(observation))
