"""`wallwm train --recipe`: the data and every stage from one file, and the checkpoint says how
it was trained."""

from __future__ import annotations

import json
import os

os.environ.setdefault("MUJOCO_GL", "egl")

import pytest
import yaml

from agent.cli.main import main
from tests.agent.test_bad_input import wallwm
from worldmodel.errors import ContractError
from worldmodel.locate import checkpoint_folder
from worldmodel.skill_input import SKILL_NAMES
from worldmodel.training.recipe import load_recipe
from worldmodel.training.stages import StageSettings


def test_a_recipe_makes_its_data_and_trains_every_stage(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--recipe", "smoke", "--out", str(out), "--threads", "1"]) == 0
    # both datasets report their progress, an episode at a time at this size
    printed = capsys.readouterr().out
    assert printed.count("data: 1/2 episodes  (") == 2
    assert printed.count("data: 2/2 episodes  (") == 2 and "0 s left)" in printed
    assert len(list((out / "data" / "meta").glob("episodes/**/*.parquet"))) >= 1
    record = yaml.safe_load((out / "export" / "training.yaml").read_text())
    [command] = record["commands"]
    assert command["recipe"] == "smoke" and command["preset"] == "debug" and command["marks"]
    assert command["skills"] is False
    stages = [(stage["stage"], stage["steps"]) for stage in command["stages"]]
    assert stages == [("vae", 2), ("video", 2), ("action", 2), ("action", 2)]
    assert command["stages"][2]["focus"] == "reach=0.5"
    assert command["stages"][3]["folder"] == "action-mixed"
    # the last stage trained on data of its own: the recipe's with seed 1
    assert command["stages"][3]["dataset"] == str(out / "data-action-mixed")
    assert "dataset" not in command["stages"][2]
    own, first = (
        json.loads((out / d / "meta" / "info.json").read_text())
        for d in ("data-action-mixed", "data")
    )
    assert own["total_episodes"] == 2 and own["features"]["observation.images.front"]["shape"] == [
        32,
        32,
        3,
    ]
    assert own["total_frames"] != first["total_frames"]  # other episodes: seed 1, not 0
    assert (out / "export" / "config.json").exists()
    losses = (out / "action-mixed" / "losses.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in losses] == [1, 2]  # trained, not resumed


def test_bad_recipes_say_what_is_wrong(tmp_path):
    with pytest.raises(
        ContractError,
        match=r"no recipe 'tiyn'.*shipped: grounded, grounded-chunk16, smoke",
    ):
        load_recipe("tiyn")
    bad = tmp_path / "bad.yaml"
    bad.write_text("preset: debug\nstages:\n  - {stage: video, steps: 2, learning_rate: 1}\n")
    with pytest.raises(ContractError, match=r"unknown: \['learning_rate'\]"):
        load_recipe(str(bad))
    (tmp_path / "bad-data.yaml").write_text("stages:\n  - {stage: video, steps: 2, data: 150}\n")
    with pytest.raises(ContractError, match="data is a mapping of `wallwm data generate` options"):
        load_recipe(str(tmp_path / "bad-data.yaml"))
    done = wallwm(tmp_path, "train", "--recipe", str(bad), "--out", str(tmp_path / "run"))
    lines = done.stderr.decode().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and lines[0].startswith("wallwm: error: recipe")
    assert not (tmp_path / "run").exists()
    # a misspelt data option, here a stage's own, is refused before any data is generated
    typo = tmp_path / "typo.yaml"
    typo.write_text("preset: debug\ndata: {episodes: 1}\nstages:\n"
                    "  - {stage: vae, steps: 1, data: {seeed: 2}}\n")  # fmt: skip
    done = wallwm(tmp_path, "train", "--recipe", str(typo), "--out", str(tmp_path / "run"))
    lines = done.stderr.decode().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and "unknown options ['seeed']" in lines[0]
    assert not (tmp_path / "run").exists()
    # a value the generator refuses is named as the recipe's
    typo.write_text("preset: debug\ndata: {episodes: -1}\nstages:\n  - {stage: vae, steps: 1}\n")
    done = wallwm(tmp_path, "train", "--recipe", str(typo), "--out", str(tmp_path / "run"))
    lines = done.stderr.decode().splitlines()
    assert done.returncode == 2 and lines == [
        "wallwm: error: recipe data: --episodes -1; expected at least 1"
    ]
    assert not (tmp_path / "run").exists()


def test_a_recipe_may_start_from_a_shipped_checkpoint(tmp_path):
    recipe_file = tmp_path / "from-tiny.yaml"
    recipe_file.write_text(
        "preset: tiny\nmarks: true\ninit_from: tiny\nstages:\n  - {stage: action, steps: 3}\n"
    )
    recipe = load_recipe(str(recipe_file))
    [(stage, settings)] = recipe.plan(StageSettings(steps=1), tmp_path / "run")
    assert stage == "action" and settings.steps == 3
    assert settings.init_from == checkpoint_folder("tiny")
    assert recipe.to_dict()["init_from"] == "tiny"
    assert recipe.config().action.target_points and not recipe.config().action.skills
    recipe_file.write_text(
        recipe_file.read_text().replace("marks: true", "marks: true\nskills: true")
    )
    assert load_recipe(str(recipe_file)).config().action.skills == SKILL_NAMES
    recipe_file.write_text(recipe_file.read_text() + "hide_proprio: [6]\n")
    assert load_recipe(str(recipe_file)).config().action.hidden_proprio == (6,)
    recipe_file.write_text(recipe_file.read_text().replace("[6]", "opening"))
    with pytest.raises(ContractError, match="hide_proprio is a list of proprio components"):
        load_recipe(str(recipe_file))
    recipe_file.write_text(recipe_file.read_text().replace("hide_proprio: opening\n", ""))
    twice = recipe_file.read_text() + "  - {stage: action, folder: again, steps: 2}\n"
    recipe_file.write_text(twice)
    first, second = load_recipe(str(recipe_file)).plan(StageSettings(steps=1), tmp_path)
    assert first[1].init_from == checkpoint_folder("tiny") and second[1].init_from is None
    recipe_file.write_text(twice.replace("folder: again, ", ""))
    with pytest.raises(ContractError, match="two stages share the folder"):
        load_recipe(str(recipe_file))
    recipe_file.write_text(twice.replace("init_from: tiny", "init_from: tyni"))
    with pytest.raises(ContractError, match=r"init_from 'tyni' is no checkpoint \(shipped: .*tiny"):
        load_recipe(str(recipe_file))
