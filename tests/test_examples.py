"""Every example runs and does what its docstring says."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType

import pytest

os.environ.setdefault("MUJOCO_GL", "egl")
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load(relative: str) -> ModuleType:
    path = EXAMPLES / relative
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def one_thread():
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_issuing_a_task_from_python_meets_its_goal(tmp_path):
    metrics = load("issue_a_task.py").main(tmp_path)
    assert metrics["goal_met"] and metrics["goal_met_in_world"]
    assert metrics["goal"] == [["in(red_block, bowl)", "on(green_block, blue_block)"]]


def test_a_skill_file_changes_the_plan_with_no_code(tmp_path):
    skills = load("add_a_skill/run.py").main(tmp_path)
    assert skills == ["regrasp", "lift", "move", "place", "release"]


def test_the_recovery_study_writes_its_report(tmp_path):
    summary = load("recovery_study.py").main(tmp_path)
    by_case = {(row["fault"], row["recovery"]): row["success"] for row in summary}
    assert by_case[("grasp_slip", "off")] == 0.0 and by_case[("grasp_slip", "on")] == 1.0
    assert (tmp_path / "report.md").exists() and (tmp_path / "results.jsonl").exists()
