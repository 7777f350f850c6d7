"""`wallwm skills`: list the skill catalogue, or check new skill files before using them.

Usage:
    wallwm skills list                          # every skill the agent can plan with
    wallwm skills list --skills-dir my_skills   # plus (or overriding) the skills in my_skills/
    wallwm skills list --json
    wallwm skills check skills/wave.md          # exit 0 if valid, else 2 with file + field
    wallwm skills check my_skills/              # every <name>.md in the folder
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from agent.cli.output import refuse
from agent.skills import (
    SKILLS_PATH_ENV,
    Skill,
    SkillCatalogue,
    SkillFileError,
    load_skill,
    skill_files,
)


def run_list(args: argparse.Namespace) -> int:
    try:
        catalogue = SkillCatalogue.load(args.skills_dir)
    except SkillFileError as exc:
        return refuse(str(exc))
    if args.json:
        rows = [
            {**skill.model_dump(mode="json"), "path": str(skill.path)}
            for skill in catalogue.values()
        ]
        print(json.dumps(rows, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"wallwm skills ({len(catalogue)})")
    for column in ("name", "arguments", "caption", "frames", "recovery", "retries", "file"):
        table.add_column(column, overflow="fold")
    for skill in sorted(catalogue.values(), key=lambda s: s.name):
        table.add_row(
            skill.name,
            ", ".join(skill.arguments),
            skill.captions[0],
            str(skill.typical_frames),
            " > ".join(skill.recovery),
            str(skill.retry_limit),
            _shown_path(skill.path),
        )
    Console().print(table)
    return 0


def _shown_path(path: Path | None) -> str:
    """A skill file's path relative to the working folder when it lies under it."""
    if path is None:
        return ""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _summary(skill: Skill) -> str:
    return (
        f"skill {skill.name!r}: arguments {list(skill.arguments)}, "
        f"{len(skill.captions)} caption template(s), {skill.typical_frames} frames, "
        f"recovery {list(skill.recovery)}, retry limit {skill.retry_limit}"
    )


def run_check(args: argparse.Namespace) -> int:
    files: list[Path] = []
    for raw in args.paths:
        path = Path(raw)
        if path.is_dir():
            found = skill_files(path)
            if not found:
                print(f"FAIL {path}: no <name>.md skill files in this folder")
                return refuse(f"{path} holds no skill files")
            files.extend(found)
        else:
            files.append(path)
    failures = 0
    for path in files:
        try:
            skill = load_skill(path)
        except SkillFileError as exc:
            failures += 1
            print(f"FAIL {exc}")
        else:
            print(f"ok   {path}: {_summary(skill)}")
    if failures:
        return refuse(f"{failures} of {len(files)} skill file(s) failed the check (see FAIL above)")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "skills",
        help="list the skill catalogue or check skill files",
        description="Skills are files skills/<name>.md (YAML front matter + prompt text). "
        f"Extra folders come from --skills-dir or {SKILLS_PATH_ENV}.",
    )
    actions = parser.add_subparsers(dest="skills_command", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="print every skill the agent can plan with")
    listing.add_argument(
        "--skills-dir",
        action="append",
        default=[],
        metavar="DIR",
        help=f"another folder of skill files (repeatable; also {SKILLS_PATH_ENV})",
    )
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(func=run_list)
    check = actions.add_parser(
        "check", help="validate skill files; exit 2 naming the file and field of each fault"
    )
    check.add_argument("paths", nargs="+", metavar="PATH", help="a skill file or a folder of them")
    check.set_defaults(func=run_check)
