"""Training recipes: a whole run as a file beside the presets (worldmodel/recipes/NAME.yaml),
so `wallwm train --recipe NAME --out RUN` makes the data and trains every stage with one command,
and what a checkpoint was trained with is written into it (export/training.yaml).

    preset: tiny            # a preset of worldmodel/config.py
    marks: true             # the target inputs (worldmodel.config.with_marks)
    skills: true            # the skill input (worldmodel.config.with_skills)
    hide_proprio: [6]       # proprio components the action tower is not shown (with_hidden_proprio)
    init_from: tiny         # optional: the first stage fine-tunes this checkpoint
    data: {episodes: 600, recovery_fraction: 0.2, seed: 0}   # `wallwm data generate` options
    defaults: {batch: 8, lr: 0.001}                          # StageSettings fields, every stage
    stages:                                                  # in order; any StageSettings field
      - {stage: vae, steps: 2000, vae_frames: 5}
      - {stage: action, steps: 2000, pack_frames: 12, focus: reach+move=0.5}
      - {stage: action, folder: action-2, steps: 800, data: {episodes: 150, seed: 2}}

A stage with `data` of its own trains on the recipe's data with those options changed (a second
dataset, generated into OUT/data-<folder>); the others train on the recipe's.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from worldmodel.config import (
    ModelConfig,
    get_config,
    with_hidden_proprio,
    with_marks,
    with_skills,
)
from worldmodel.errors import ContractError
from worldmodel.locate import checkpoint_folder, find_checkpoints
from worldmodel.training.batches import Focus
from worldmodel.training.stages import STAGES, StageSettings, stage_plan

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
KEYS = ("preset", "marks", "skills", "hide_proprio", "init_from", "data", "defaults", "stages")
# What a recipe may not set: where things go and how this machine runs them.
MACHINE_FIELDS = ("init_from", "latent_store", "parallel", "muon", "dataset")


@dataclass(frozen=True)
class Recipe:
    name: str
    preset: str
    marks: bool
    data: dict[str, Any]  # options of the data generation (agent's GenerationConfig)
    stages: tuple[dict[str, Any], ...]  # each: stage, steps and StageSettings fields
    init_from: str | None = None  # a checkpoint its first stage starts from (worldmodel.locate)
    skills: bool = False
    hide_proprio: tuple[int, ...] = ()

    def config(self) -> ModelConfig:
        config = get_config(self.preset)
        config = with_marks(config) if self.marks else config
        config = with_skills(config) if self.skills else config
        return with_hidden_proprio(config, self.hide_proprio)

    def stage_data(self, out: Path) -> dict[Path, dict[str, Any]]:
        """The datasets of the stages with data of their own: folder in the run -> options."""
        return {
            _data_folder(out, entry): {**self.data, **entry["data"]}
            for entry in self.stages
            if "data" in entry
        }

    def plan(self, base: StageSettings, out: Path) -> list[tuple[str, StageSettings]]:
        """(stage, its settings) in order: `base` (the machine's choices) with the recipe's; a
        stage with data of its own trains on the folder `stage_data` names for it."""
        plan = []
        for entry in self.stages:
            values = {k: v for k, v in entry.items() if k not in ("stage", "data")}
            if "data" in entry:
                values["dataset"] = _data_folder(out, entry)
            if "focus" in values:
                values["focus"] = Focus.parse(values["focus"])
            # The recipe's init_from starts its first stage; the later ones go on from the run.
            if not plan and self.init_from is not None and base.init_from is None:
                values["init_from"] = checkpoint_folder(self.init_from)
            plan.append((entry["stage"], dataclasses.replace(base, **values)))
        return plan

    def to_dict(self) -> dict[str, Any]:
        return {
            "preset": self.preset,
            "marks": self.marks,
            "skills": self.skills,
            "hide_proprio": list(self.hide_proprio),
            "init_from": self.init_from,
            "data": dict(self.data),
            "stages": [dict(stage) for stage in self.stages],
        }


def _data_folder(out: Path, stage: dict[str, Any]) -> Path:
    """Where a stage's own data is generated: OUT/data-<its folder>."""
    return out / f"data-{stage.get('folder') or stage['stage']}"


def load_recipe(name: str) -> Recipe:
    """The recipe `name` (worldmodel/recipes/NAME.yaml) or the YAML file at that path;
    ContractError says what is wrong with it."""
    path = Path(name) if name.endswith((".yaml", ".yml")) else RECIPES / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in RECIPES.glob("*.yaml"))) or "none"
        raise ContractError(f"no recipe {name!r} (shipped: {known}; or a .yaml file)")
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict) or set(raw) - set(KEYS) or "stages" not in raw:
        raise ContractError(f"recipe {path}: a mapping with stages and some of {list(KEYS)}")
    get_config(str(raw.get("preset", "tiny")))  # an unknown preset names the close ones
    fields = {f.name for f in dataclasses.fields(StageSettings)} - set(MACHINE_FIELDS)
    defaults = dict(raw.get("defaults") or {})
    stages = []
    for entry in raw["stages"]:
        entry = {**defaults, **entry}
        unknown = sorted(set(entry) - fields - {"stage", "data"})
        if unknown or "stage" not in entry or "steps" not in entry:
            raise ContractError(
                f"recipe {path}: stage {entry.get('stage')!r} needs stage and steps and may set "
                f"only data and StageSettings fields (unknown: {unknown})"
            )
        if not isinstance(entry.get("data", {}), dict):
            raise ContractError(
                f"recipe {path}: stage {entry['stage']!r} data is a mapping of `wallwm data "
                "generate` options ({episodes: 150, seed: 2})"
            )
        stage_plan(entry["stage"])  # a known stage
        stages.append(entry)
    if not stages or any(entry["stage"] not in (*STAGES, "joint") for entry in stages):
        raise ContractError(f"recipe {path}: stages must be some of vae, video, action, joint")
    folders = [entry.get("folder") or entry["stage"] for entry in stages]
    if len(set(folders)) < len(folders):
        raise ContractError(
            f"recipe {path}: two stages share the folder of {folders}; give a stage that runs "
            "again a folder of its own (folder: action-mixed)"
        )
    hidden = raw.get("hide_proprio") or []
    if not isinstance(hidden, list) or not all(isinstance(i, int) for i in hidden):
        raise ContractError(f"recipe {path}: hide_proprio is a list of proprio components ([6])")
    init_from = raw.get("init_from")
    if init_from is not None and not (checkpoint_folder(str(init_from)) / "config.json").is_file():
        shipped = ", ".join(sorted(p.name for p in find_checkpoints())) or "none"
        raise ContractError(
            f"recipe {path}: init_from {init_from!r} is no checkpoint (shipped: {shipped}; or a "
            "checkpoint folder)"
        )
    return Recipe(
        name=path.stem,
        preset=str(raw.get("preset", "tiny")),
        marks=bool(raw.get("marks", False)),
        skills=bool(raw.get("skills", False)),
        hide_proprio=tuple(hidden),
        init_from=None if init_from is None else str(init_from),
        data=dict(raw.get("data") or {}),
        stages=tuple(stages),
    )


def write_training_record(export: Path, command: dict[str, Any]) -> Path:
    """What a checkpoint was trained with, beside its weights (export/training.yaml): every
    command that trained into this run folder, in order (a stage run alone appends to it)."""
    export.mkdir(parents=True, exist_ok=True)
    path = export / "training.yaml"
    commands = []
    if path.exists():
        commands = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("commands", [])
    commands.append(command)
    path.write_text(yaml.safe_dump({"commands": commands}, sort_keys=False), encoding="utf-8")
    return path
