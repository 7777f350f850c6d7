"""Prompt templates as files: one per VLM call site (prompts/plan.md, verify.md, recover.md).

A template is Markdown with `{{name}}` placeholders. Rendering checks both directions: every
placeholder of the template must be given a value, and every value given must be used, so a typo
in a template or in the code fails loudly instead of sending a prompt with a hole in it. Single
braces are plain text, so templates may show JSON examples.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from agent.resources import resource_dir
from worldmodel.errors import WallwmError

PROMPTS_PATH_ENV = "WALLWM_PROMPTS_PATH"
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


class PromptError(WallwmError):
    """A prompt template is missing, or was rendered with missing or unknown values."""


@dataclass(frozen=True)
class PromptTemplate:
    """One template file and the placeholders it declares."""

    name: str
    path: Path
    text: str

    @property
    def placeholders(self) -> frozenset[str]:
        return frozenset(PLACEHOLDER.findall(self.text))

    def render(self, values: Mapping[str, object]) -> str:
        """Fill every placeholder; raise PromptError naming missing and unknown ones."""
        missing = sorted(self.placeholders - set(values))
        unknown = sorted(set(values) - self.placeholders)
        if missing or unknown:
            problems = []
            if missing:
                problems.append(f"no value for placeholder(s) {missing}")
            if unknown:
                problems.append(f"value(s) {unknown} match no placeholder")
            raise PromptError(
                f"prompt {self.path}: {'; '.join(problems)}; the template declares "
                f"{sorted(self.placeholders)}: pass exactly those"
            )
        return PLACEHOLDER.sub(lambda match: str(values[match.group(1)]), self.text).strip()


def prompt_dirs(extra: Sequence[Path | str] = ()) -> list[Path]:
    """Folders searched for templates, later ones first: `extra`, WALLWM_PROMPTS_PATH, bundled."""
    from_env = [Path(p) for p in os.environ.get(PROMPTS_PATH_ENV, "").split(os.pathsep) if p]
    return [*(Path(p) for p in extra), *from_env, resource_dir("prompts")]


class PromptLibrary:
    """Finds templates by call-site name and renders them."""

    def __init__(self, dirs: Iterable[Path | str] | None = None) -> None:
        self.dirs = [Path(d) for d in dirs] if dirs is not None else prompt_dirs()

    def template(self, name: str) -> PromptTemplate:
        """The template `name` (e.g. "plan") from the first folder that has `<name>.md`."""
        for folder in self.dirs:
            path = folder / f"{name}.md"
            if path.is_file():
                return PromptTemplate(name=name, path=path, text=path.read_text(encoding="utf-8"))
        searched = ", ".join(str(d) for d in self.dirs)
        raise PromptError(
            f"no prompt template {name!r}: looked for {name}.md in {searched}; add the file "
            f"or set {PROMPTS_PATH_ENV}"
        )

    def render(self, name: str, **values: object) -> str:
        """Render template `name` with exactly its placeholders."""
        return self.template(name).render(values)
