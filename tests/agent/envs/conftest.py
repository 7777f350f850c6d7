"""Shared fixtures: one rendering simulator and one physics-only simulator per test module."""

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import pytest

from agent.envs.tabletop.sim import SimConfig, TabletopSim


@pytest.fixture(scope="module")
def sim():
    with TabletopSim(SimConfig()) as simulator:
        yield simulator


@pytest.fixture(scope="module")
def fast_sim():
    with TabletopSim(SimConfig(render=False)) as simulator:
        yield simulator
