"""`wallwm calibrate` fits thresholds per camera from nominal episodes (per skill once a skill
has 20 scores; pooled over skills before that)."""

from __future__ import annotations

import json
import os

import pytest

os.environ.setdefault("MUJOCO_GL", "egl")

from agent.cli.main import main


def test_calibrate_writes_thresholds_for_every_skill_it_saw(tmp_path, capsys):
    out = tmp_path / "calibration"
    args = ["calibrate", "--executor", "oracle", "--tasks", "drawer_green", "--seeds", "0"]
    args += ["--out", str(out)]
    assert main([*args, "--resolution", "64"]) == 0
    saved = json.loads((out / "simulator-oracle.json").read_text())
    assert saved["measure"] == "ssim" and saved["model"] == "simulator-oracle"
    # 8 events of one episode: no skill has 20 scores, so only the pooled thresholds exist
    assert saved["counts"] == {"*": {"front": 8, "side": 8, "wrist": 8}}
    assert saved["values"]["*"] == {"front": 0.0, "side": 0.0, "wrist": 0.0}  # the oracle is exact
    assert "24 camera-event scores from 1 nominal episodes" in capsys.readouterr().out


@pytest.mark.slow
def test_calibrate_with_the_learned_executor_fits_the_action_and_combined_detectors(tmp_path):
    out = tmp_path / "calibration"
    args = ["calibrate", "--executor", "tiny", "--measure", "latent", "--tasks", "bowl_red_blue"]
    assert main([*args, "--seeds", "0", "--action-draws", "2", "--out", str(out)]) == 0
    thresholds = json.loads((out / "wallwm-tiny.json").read_text())
    detectors = json.loads((out / "wallwm-tiny.detectors.json").read_text())
    assert detectors["alpha"] == thresholds["alpha"] == 0.05
    action, split = detectors["action"], detectors["split_action"]
    assert (action["measure"], action["model"]) == ("action_spread", "wallwm-tiny")
    events = action["counts"]["*"]["actions"]
    assert events == thresholds["counts"]["*"]["front"]  # one spread score per event
    assert 0 < action["values"]["*"]["actions"] <= split["values"]["*"]["actions"]
    assert split["alpha"] == detectors["split_divergence"]["alpha"] == 0.025
