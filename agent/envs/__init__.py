"""Environments: the Robot protocol and its implementations (MuJoCo simulator, real robots)."""
