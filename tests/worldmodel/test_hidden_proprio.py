"""Hidden proprio components: the action tower is not shown them (their normalised value is 0,
the training mean), so what they used to tell it has to come from the skill and the images."""

import dataclasses

import numpy as np
import pytest

from tests.agent.test_bad_input import wallwm
from tests.worldmodel.test_target_points import executor_and_reach
from worldmodel.config import ModelConfig, with_hidden_proprio
from worldmodel.errors import UnknownPresetError
from worldmodel.model import WallWM

OPENING = 6  # the tabletop's gripper opening


def test_a_hidden_component_neither_reaches_nor_changes_the_prediction(debug_config):
    config = with_hidden_proprio(debug_config, (OPENING,))
    executor, request = executor_and_reach(WallWM(config).eval(), config)
    closed = dataclasses.replace(
        request,
        observation=dataclasses.replace(
            request.observation, proprio=np.array([0.5, 0.0, 0.2, 0, 0, 0, 0.0], np.float32)
        ),
    )
    state = executor.state(request)[0].numpy()
    assert state[OPENING] == 0.0 and state[2] == pytest.approx(0.2)  # the rest is shown
    np.testing.assert_array_equal(state, executor.state(closed)[0].numpy())
    np.testing.assert_array_equal(
        executor.predict(request).actions, executor.predict(closed).actions
    )
    shown, _ = executor_and_reach(WallWM(debug_config).eval(), debug_config)
    assert shown.state(request)[0, OPENING] == pytest.approx(0.04)  # the default shows it all


def test_the_config_keeps_the_hidden_components_and_refuses_ones_outside_the_proprio(
    debug_config,
):
    config = with_hidden_proprio(debug_config, (OPENING,))
    assert ModelConfig.from_dict(config.to_dict()).action.hidden_proprio == (OPENING,)
    with pytest.raises(UnknownPresetError, match=r"hidden_proprio \[7\] are not components"):
        with_hidden_proprio(debug_config, (7,))


def test_train_refuses_a_malformed_hide_proprio_in_one_line(tmp_path):
    done = wallwm(
        tmp_path,
        "train",
        "--data",
        str(tmp_path),
        "--steps",
        "1",
        "--out",
        str(tmp_path / "run"),
        "--hide-proprio",
        "opening",
    )
    lines = done.stderr.decode().splitlines()
    assert not (tmp_path / "run").exists()
    assert done.returncode == 2 and lines == [
        "wallwm: error: --hide-proprio 'opening': expected proprio component numbers such as 6 "
        "or 5,6"
    ]
