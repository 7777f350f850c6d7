"""LeRobot's own code reads, appends, deletes and aggregates our datasets without losing anything.

Runs benchmarks/lerobot_conformance.py with the Python that WALLWM_LEROBOT_PYTHON names (LeRobot
pins torch < 2.11, so it lives in its own environment); skipped when it is not set. Then our own
reader opens what LeRobot made.
"""

import os
import subprocess
from pathlib import Path

import pytest

from worldmodel.data.conformance import layout_problems
from worldmodel.data.reader import DatasetReader
from worldmodel.data.writer import DatasetWriter

LEROBOT_PYTHON_ENV = "WALLWM_LEROBOT_PYTHON"
REPOSITORY = Path(__file__).parents[3]
pytestmark = pytest.mark.slow


@pytest.fixture
def lerobot_python() -> str:
    python = os.environ.get(LEROBOT_PYTHON_ENV)
    if not python:
        pytest.skip(
            f"set {LEROBOT_PYTHON_ENV} to a Python with lerobot installed to run the LeRobot "
            "conformance check (LeRobot pins torch < 2.11: install it in its own environment)"
        )
    return python


def test_lerobot_reads_appends_deletes_and_aggregates(tmp_path, episode_factory, lerobot_python):
    tasks = ["put the red block in the bowl", "stack green on blue", "open the drawer"]
    for name, seeds in (("a", range(3)), ("b", range(3, 5))):
        writer = DatasetWriter(tmp_path / name)
        for seed in seeds:
            writer.write(episode_factory(seed, steps=12 + seed, task=tasks[seed % 3]))
        writer.finalize()
    work = tmp_path / "work"
    script = REPOSITORY / "benchmarks/lerobot_conformance.py"
    done = subprocess.run(
        [
            lerobot_python,
            str(script),
            str(tmp_path / "a"),
            str(tmp_path / "b"),
            "--work",
            str(work),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPOSITORY)},
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "FAIL" not in done.stdout
    original = DatasetReader(tmp_path / "a")
    for name, kept in (("appended", [0, 1, 2]), ("deleted", [0, 2]), ("aggregated", [0, 1, 2])):
        reader = DatasetReader(work / name)
        for position, source in enumerate(kept):
            assert reader.events[position] == original.events[source], name
            assert reader.metadata(position) == original.metadata(source), name
            assert reader.load(position).task == original.load(source).task, name
        assert layout_problems(work / name) == [], name
    appended = DatasetReader(work / "appended")
    assert appended.load(3).events == [] and appended.metadata(3) == {}
