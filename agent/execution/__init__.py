"""Execution: the event executors a run can use (registry.py): the simulator oracle, the hold-still
control, and the learned WALL-WM checkpoints."""
