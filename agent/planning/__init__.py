"""Planning: the planners (one file each, registered in registry.py), the scene memory they
share, and the goal monitor that judges a run against the scene."""
