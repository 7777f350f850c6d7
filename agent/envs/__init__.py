"""Environments: the Robot protocol and its implementations (MuJoCo simulator, real robots)."""

import os

# MuJoCo picks its GL backend when it is first imported: offscreen EGL renders without a display.
# Set here, before any environment module imports mujoco; an explicit MUJOCO_GL still wins.
os.environ.setdefault("MUJOCO_GL", "egl")
