"""Skills as files: `skills/<name>.md` = YAML front matter + the prompt text the planner sees.

An integrator adds a skill by adding a file; nothing else changes. The front matter is validated on
load and any fault is reported with the file, the field and what was expected, e.g.

    skills/wave.md: field 'retry_limit': Input should be less than or equal to 10, got 99;
    expected how many times the event may be retried before recovery escalates (0-10)

Folders are searched in order: the bundled `skills/`, then each folder of WALLWM_SKILLS_PATH, then
folders passed in code or with `--skills-dir`; a later file with the same name replaces an earlier
one, so a deployment can override a shipped skill without editing it.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import string
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from agent.goals.relations import Relation, RelationSyntaxError
from agent.resources import resource_dir
from agent.state import MAX_EVENT_FRAMES
from worldmodel.errors import ContractError, WallwmError

SKILLS_PATH_ENV = "WALLWM_SKILLS_PATH"
NOT_SKILL_FILES = frozenset({"README.md"})
MAX_RETRY_LIMIT = 10

RecoveryStrategy = Literal["regrasp", "back_off_and_retry", "replan", "human_takeover"]
RECOVERY_STRATEGIES: tuple[str, ...] = get_args(RecoveryStrategy)

_NAME_PATTERN = r"^[a-z][a-z0-9_]*$"


class SkillFileError(WallwmError):
    """A skill file cannot be read or its front matter does not validate."""


class UnknownSkillError(ContractError):
    """A skill name that no skill file defines."""


class SkillArgumentError(ContractError):
    """Arguments that do not match the skill's declared arguments."""


class SkillArgument(BaseModel):
    """One argument of a skill; values are object or place ids such as "red_block"."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = Field(min_length=1, description="a non-empty sentence: what the value names")
    examples: tuple[str, ...] = Field(
        default=(), description="a list of example values, e.g. [red_block, bowl]"
    )


class SkillHorizon(BaseModel):
    """How long an event of the skill runs, from how far the hand travels: a reach to a far
    block takes longer than one to a near block. frames = extra_steps + steps_per_metre x the
    distance from the hand to where the argument `towards` was perceived (`across`: on the
    table's plane only, for a carry at a fixed height). Fit it on the expert's events: a learned
    model is trained on those lengths, and asked for fewer it stops short."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    towards: str = Field(description="the argument the hand travels to, e.g. object")
    steps_per_metre: float = Field(gt=0, description="control steps per metre travelled")
    extra_steps: float = Field(default=0.0, description="steps on top of the travel")
    across: bool = Field(
        default=False, description="measure the distance across the table (x, y) only"
    )

    def frames(self, distance_m: float) -> int:
        steps = math.ceil(self.extra_steps + self.steps_per_metre * distance_m)
        return min(max(steps, 1), MAX_EVENT_FRAMES)


class PlanningCase(BaseModel):
    """One way the skill changes the scene, for the goal planner (agent/goals/pddl.py).

    Relations are spelt as perception spells them, with parameter names for objects:
    `on(object, target)`; an effect starting with `not ` stops holding. A name that is not a
    parameter is an object of that name (`gripper`, `drawer`).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    parameters: dict[str, str | tuple[str, ...]] = Field(
        min_length=1,
        description="a mapping from parameter name to an object type or a list of types "
        "(block, bowl, plate, drawer, table); every argument of the skill is a parameter, "
        "others are only for the planner (e.g. where the object is taken from)",
    )
    preconditions: tuple[str, ...] = Field(
        default=(),
        description="relations that must hold before, e.g. 'holding(object)'; no 'not': write "
        "the opposite relation (closed(drawer), empty(gripper))",
    )
    effects: tuple[str, ...] = Field(
        min_length=1,
        description="relations that hold after ('in(object, target)') or stop holding "
        "('not holding(object)')",
    )

    @field_validator("parameters")
    @classmethod
    def _names_and_types(cls, value: dict[str, str | tuple[str, ...]]) -> dict:
        for name, types in value.items():
            for item in (name, *((types,) if isinstance(types, str) else types)):
                if not re.match(_NAME_PATTERN, item):
                    raise ValueError(f"parameter or type {item!r} is not lower_snake_case")
        return value

    @field_validator("preconditions", "effects")
    @classmethod
    def _relations(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        for text in value:
            negated = text.startswith("not ")
            if negated and info.field_name == "preconditions":
                raise ValueError(
                    f"precondition {text!r} is negative; the planner takes positive ones only: "
                    "write the opposite relation, e.g. 'closed(drawer)' for 'not open(drawer)'"
                )
            try:
                Relation.parse(text.removeprefix("not ") if negated else text)
            except RelationSyntaxError as exc:
                hint = ""
                if "(" in text and ")" not in text:  # YAML split "[on(a, b)]" at its comma
                    hint = "; in a [flow, list] the comma splits a relation: write a block list"
                raise ValueError(f"{exc}{hint}") from None
        return value


class Skill(BaseModel):
    """A validated skill: the front matter of its file plus its prompt text."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(
        pattern=_NAME_PATTERN,
        description="the skill's name in lower_snake_case, equal to the file name without .md",
    )
    description: str = Field(min_length=1, description="one non-empty sentence: what it does")
    arguments: dict[str, SkillArgument] = Field(
        default_factory=dict,
        description="a mapping from argument name (lower_snake_case) to {description, examples}",
    )
    captions: tuple[str, ...] = Field(
        min_length=1,
        description="a non-empty list of event caption templates that use every argument as "
        "{name}, e.g. 'grasp the {object}'",
    )
    typical_frames: int = Field(
        ge=1,
        le=MAX_EVENT_FRAMES,
        description=f"the usual segment length in control steps at 10 Hz (1-{MAX_EVENT_FRAMES})",
    )
    success_signals: tuple[str, ...] = Field(
        min_length=1, description="a non-empty list of what the cameras show when it worked"
    )
    recovery: tuple[RecoveryStrategy, ...] = Field(
        min_length=1,
        description="a non-empty ordered list of distinct strategies from "
        f"{list(RECOVERY_STRATEGIES)}",
    )
    retry_limit: int = Field(
        ge=0,
        le=MAX_RETRY_LIMIT,
        description="how many times the event may be retried before recovery escalates "
        f"(0-{MAX_RETRY_LIMIT})",
    )
    holds_object: bool = Field(
        default=False,
        description="the fingers stay closed on the object through the event (grasp, carry): "
        "fingers that close on nothing then mean it was missed or slipped",
    )
    horizon: SkillHorizon | None = Field(
        default=None,
        description="optional {towards, steps_per_metre, extra_steps, across}: the event's "
        "frames from how far the hand travels to the argument `towards`, instead of "
        "typical_frames (which stays the fallback when that object is not seen)",
    )
    planning: tuple[PlanningCase, ...] = Field(
        default=(),
        description="a list of {parameters, preconditions, effects} for the goal planner; a "
        "skill without it (a recovery such as regrasp) is never planned",
    )
    prompt: str = Field(
        min_length=1, description="the prompt text after the front matter (non-empty)"
    )
    path: Path | None = Field(default=None, exclude=True)

    @field_validator("arguments")
    @classmethod
    def _argument_names(cls, value: dict[str, SkillArgument]) -> dict[str, SkillArgument]:
        for name in value:
            if not re.match(_NAME_PATTERN, name):
                raise ValueError(f"argument name {name!r} is not lower_snake_case")
        return value

    @field_validator("horizon")
    @classmethod
    def _horizon_towards_an_argument(
        cls, value: SkillHorizon | None, info: ValidationInfo
    ) -> SkillHorizon | None:
        if value is None or "arguments" not in info.data:
            return value
        if value.towards not in info.data["arguments"]:
            raise ValueError(
                f"horizon towards {value.towards!r} is not an argument of the skill "
                f"{sorted(info.data['arguments'])}"
            )
        return value

    @field_validator("recovery")
    @classmethod
    def _distinct_strategies(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        repeated = sorted({s for s in value if value.count(s) > 1})
        if repeated:
            raise ValueError(f"strategies {repeated} appear more than once")
        return value

    @field_validator("planning")
    @classmethod
    def _planning_covers_arguments(
        cls, value: tuple[PlanningCase, ...], info: ValidationInfo
    ) -> tuple[PlanningCase, ...]:
        if "arguments" not in info.data:
            return value
        for case in value:
            missing = sorted(set(info.data["arguments"]) - set(case.parameters))
            if missing:
                raise ValueError(
                    f"planning parameters {sorted(case.parameters)} lack the argument(s) "
                    f"{missing}; every argument of the skill is a planning parameter"
                )
        return value

    @field_validator("captions")
    @classmethod
    def _captions_use_arguments(
        cls, value: tuple[str, ...], info: ValidationInfo
    ) -> tuple[str, ...]:
        if "arguments" not in info.data:  # the arguments failed validation and are reported
            return value
        declared = set(info.data["arguments"])
        for template in value:
            used = {field for _, field, _, _ in string.Formatter().parse(template) if field}
            if used != declared:
                raise ValueError(
                    f"caption template {template!r} uses {sorted(used)}; every template must "
                    f"use exactly the declared arguments {sorted(declared)}"
                )
        return value

    def caption(self, arguments: Mapping[str, str], template: int = 0) -> str:
        """The event caption for these arguments: ids become display names ("red_block" ->
        "red block"), as the world model's captions read."""
        self.check_arguments(arguments)
        names = {key: display_name(value) for key, value in arguments.items()}
        return self.captions[template].format(**names)

    def parse_caption(self, caption: str) -> dict[str, str] | None:
        """The arguments a caption names if it reads as one of this skill's templates
        ("place the red block in the bowl" -> {"object": "red_block", "target": "bowl"}), else
        None. Lets a person type an event in words (human takeover)."""
        text = " ".join(caption.lower().split())
        for template in self.captions:
            pattern = ""
            for literal, name, _, _ in string.Formatter().parse(template):
                pattern += re.escape(" ".join(literal.lower().split(" ")))
                if name:
                    pattern += f"(?P<{name}>[a-z0-9][a-z0-9 _]*?)"
            match = re.fullmatch(pattern, text)
            if match:
                return {key: value.replace(" ", "_") for key, value in match.groupdict().items()}
        return None

    def check_arguments(self, arguments: Mapping[str, str]) -> None:
        """Raise SkillArgumentError unless `arguments` are exactly the declared ones."""
        missing = sorted(set(self.arguments) - set(arguments))
        unknown = sorted(set(arguments) - set(self.arguments))
        if missing or unknown:
            raise SkillArgumentError(
                f"skill {self.name!r} takes arguments {sorted(self.arguments)}; "
                f"got {sorted(arguments)} (missing {missing}, unknown {unknown})"
            )
        empty = sorted(key for key, value in arguments.items() if not str(value).strip())
        if empty:
            raise SkillArgumentError(f"skill {self.name!r}: argument(s) {empty} are empty")

    def describe(self) -> str:
        """The skill's entry in the catalogue shown to a planner."""
        arguments = "; ".join(f"{k}: {a.description}" for k, a in self.arguments.items())
        return "\n".join(
            [
                f"### {self.name}",
                self.description,
                f"arguments: {arguments or 'none'}",
                f"captions: {' | '.join(self.captions)}",
                f"typical frames: {self.typical_frames}",
                f"success signals: {'; '.join(self.success_signals)}",
                f"recovery: {', '.join(self.recovery)} (retry limit {self.retry_limit})",
                self.prompt,
            ]
        )


def display_name(identifier: str) -> str:
    """An object id as captions write it: "red_block" -> "red block"."""
    return identifier.replace("_", " ")


def _split_front_matter(path: Path, text: str) -> tuple[Any, str]:
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        raise SkillFileError(
            f"{path}: no front matter; expected the file to start with a line '---', then the "
            "YAML fields, then a line '---', then the prompt text"
        )
    try:
        end = next(i for i, line in enumerate(lines[1:], start=1) if line.strip() == "---")
    except StopIteration:
        raise SkillFileError(
            f"{path}: the front matter is not closed; expected a second line '---' after the "
            "YAML fields"
        ) from None
    try:
        front = yaml.safe_load("\n".join(lines[1:end]))
    except yaml.YAMLError as exc:
        hint = ""
        if "'{'" in str(exc):
            hint = (
                "\n(a caption template in a [flow, list] needs quotes: write captions as a "
                "block list, one '- grasp the {object}' per line, or quote each template)"
            )
        raise SkillFileError(f"{path}: the front matter is not valid YAML: {exc}{hint}") from None
    return front, "\n".join(lines[end + 1 :]).strip()


def _describe_validation_error(path: Path, exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        location = [str(part) for part in error["loc"]]
        field = ".".join(location) or "(front matter)"
        if error["type"] == "extra_forbidden":
            allowed = _allowed_fields(location[:-1])
            close = difflib.get_close_matches(location[-1], allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(
                f"field {field!r} is not a skill field{hint}; expected one of {allowed}"
            )
            continue
        if error["type"] == "value_error":  # our validators' messages say what they found
            message, found = str(error["ctx"]["error"]), ""
        else:
            # pydantic says "tuple" for what a skill file writes as a YAML list
            message = (error["msg"][0].lower() + error["msg"][1:]).replace("tuple", "list")
            found = "" if error["type"] == "missing" else f", got {error['input']!r}"
        expected = _expected(location)
        problems.append(
            f"field {field!r}: {message}{found}" + (f"; expected {expected}" if expected else "")
        )
    return f"{path}: " + "\n  ".join(problems)


def _allowed_fields(parent: Sequence[str]) -> list[str]:
    if len(parent) == 2 and parent[0] == "arguments":
        return list(SkillArgument.model_fields)
    if len(parent) == 2 and parent[0] == "planning":
        return list(PlanningCase.model_fields)
    return [name for name in Skill.model_fields if name not in ("path", "prompt")]


def _expected(location: Sequence[str]) -> str:
    if not location:
        return "a YAML mapping of skill fields"
    if location[0] == "arguments" and len(location) >= 3:
        field = SkillArgument.model_fields.get(location[2])
    elif location[0] == "planning" and len(location) >= 3:
        field = PlanningCase.model_fields.get(location[2])
    else:
        field = Skill.model_fields.get(location[0])
    return field.description or "" if field else ""


def parse_skill(path: Path, text: str) -> Skill:
    """Validate one skill file's text; raise SkillFileError naming the file and field."""
    front, body = _split_front_matter(path, text)
    if not isinstance(front, dict):
        raise SkillFileError(
            f"{path}: the front matter is a {type(front).__name__}; expected a YAML mapping of "
            "skill fields (name, description, arguments, captions, ...)"
        )
    reserved = sorted({"prompt", "path"} & set(front))
    if reserved:
        raise SkillFileError(
            f"{path}: field(s) {reserved} may not appear in the front matter; the prompt is the "
            "text after the closing '---', and the path is where the file lies"
        )
    try:
        skill = Skill.model_validate({**front, "prompt": body, "path": path})
    except ValidationError as exc:
        raise SkillFileError(_describe_validation_error(path, exc)) from None
    if skill.name != path.stem:
        raise SkillFileError(
            f"{path}: field 'name' is {skill.name!r}; expected {path.stem!r}, the file name "
            "without .md"
        )
    return skill


def load_skill(path: Path | str) -> Skill:
    """Read and validate one skill file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SkillFileError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise SkillFileError(f"{path}: is not UTF-8 text ({exc.reason})") from None
    return parse_skill(path, text)


def skill_files(folder: Path) -> list[Path]:
    """The skill files of a folder, by name; README.md is documentation, not a skill."""
    return sorted(p for p in folder.glob("*.md") if p.name not in NOT_SKILL_FILES)


def skill_dirs(extra: Sequence[Path | str] = ()) -> list[Path]:
    """Folders searched for skills, in order: bundled, WALLWM_SKILLS_PATH, then `extra`."""
    from_env = [Path(p) for p in os.environ.get(SKILLS_PATH_ENV, "").split(os.pathsep) if p]
    return [resource_dir("skills"), *from_env, *(Path(p) for p in extra)]


class SkillCatalogue(Mapping[str, Skill]):
    """The skills an agent can plan with, by name."""

    def __init__(self, skills: Iterable[Skill]) -> None:
        self._skills = {skill.name: skill for skill in skills}

    @classmethod
    def load(cls, extra_dirs: Sequence[Path | str] = ()) -> SkillCatalogue:
        """Load every skill folder (see skill_dirs); later folders override earlier ones."""
        skills: dict[str, Skill] = {}
        for folder in skill_dirs(extra_dirs):
            if not folder.is_dir():
                raise SkillFileError(
                    f"skill folder {folder} does not exist; expected a folder of <name>.md files "
                    f"(check --skills-dir and {SKILLS_PATH_ENV})"
                )
            for path in skill_files(folder):
                skill = load_skill(path)
                skills[skill.name] = skill
        return cls(skills.values())

    def __getitem__(self, name: str) -> Skill:
        try:
            return self._skills[name]
        except KeyError:
            close = difflib.get_close_matches(name, list(self._skills), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise UnknownSkillError(
                f"unknown skill {name!r}{hint}; known skills: {sorted(self._skills)}; a new skill "
                "is a file skills/<name>.md"
            ) from None

    def __contains__(self, name: object) -> bool:
        # Mapping's default goes through __getitem__, whose error is not a KeyError.
        return name in self._skills

    def __iter__(self) -> Iterator[str]:
        return iter(self._skills)

    def __len__(self) -> int:
        return len(self._skills)

    def check_call(self, name: str, arguments: Mapping[str, str]) -> Skill:
        """The skill `name`, after checking `arguments` against it."""
        skill = self[name]
        skill.check_arguments(arguments)
        return skill

    def parse_caption(self, caption: str) -> tuple[Skill, dict[str, str]]:
        """The skill and arguments of an event written in words, e.g. by a person taking over."""
        for skill in self._skills.values():
            arguments = skill.parse_caption(caption)
            if arguments is not None:
                return skill, arguments
        examples = [skill.captions[0] for skill in self._skills.values()]
        raise UnknownSkillError(
            f"no skill's caption template matches {caption!r}; write the event as one of "
            f"{examples} with object ids in words (e.g. 'grasp the red block')"
        )

    def describe(self) -> str:
        """The whole catalogue as the planner prompt shows it."""
        return "\n\n".join(skill.describe() for skill in self._skills.values())
