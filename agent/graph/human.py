"""Reading a person's answer at a takeover: an event caption, a skill call, or "end".

Accepted forms (case-insensitive):
    grasp the red block                 a caption matching one of a skill's caption templates
    grasp object=red_block              a skill name with its arguments
    end                                 the task is done (also: done, stop)
"""

from __future__ import annotations

from typing import Any

from agent.skills import SkillCatalogue
from agent.state import EventState

END_WORDS = ("end", "done", "stop")


def _event(skills: SkillCatalogue, name: str, arguments: dict[str, str]) -> EventState:
    skill = skills.check_call(name, arguments)
    return EventState(
        next_event=skill.caption(arguments),
        skill=name,
        arguments=arguments,
        frames=skill.typical_frames,
        progress=0,
        decision="continue",
        reason="given by a person",
    )


def parse_human_answer(
    answer: str, skills: SkillCatalogue, history: list[dict[str, Any]]
) -> tuple[EventState | None, str | None]:
    """(event, None) when understood, else (None, what to type instead)."""
    text = answer.strip()
    if text.lower() in END_WORDS:
        last = history[-1] if history else {"skill": "reach", "arguments": {}}
        return (
            EventState(
                next_event="end",
                skill=last["skill"],
                arguments=last["arguments"],
                frames=1,
                progress=100,
                decision="end",
                reason="a person ended the task",
            ),
            None,
        )
    words = text.split()
    if words and words[0].lower() in skills and all("=" in w for w in words[1:]):
        arguments = dict(word.split("=", 1) for word in words[1:])
        try:
            return _event(skills, words[0].lower(), arguments), None
        except ValueError as exc:
            return None, str(exc)
    try:
        skill, arguments = skills.parse_caption(text)
        return _event(skills, skill.name, arguments), None
    except ValueError:
        pass
    examples = "; ".join(skill.captions[0] for skill in list(skills.values())[:4])
    return None, (
        f"could not read {text!r} as an event. Type a caption of a skill ({examples} ...), "
        "a skill call such as 'grasp object=red_block', or 'end'"
    )
