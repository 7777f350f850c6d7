"""Add a skill file and run a task with it: no code.

    MUJOCO_GL=egl .venv/bin/python examples/add_a_skill/run.py [RUNS_DIR]

The same as the command line
    wallwm skills check examples/add_a_skill/regrasp.md
    wallwm run "put the red block in the bowl" --skills-dir examples/add_a_skill

regrasp.md (beside this file) replaces the shipped regrasp skill with one that has a `planning`
case: the goal planner may now pick a block up in one event (regrasp) instead of two (reach,
grasp), so the plan is one event shorter.
"""

from __future__ import annotations

import sys
from pathlib import Path

from agent.run_spec import RunSpec
from agent.session import open_session
from agent.skills import SkillCatalogue

HERE = Path(__file__).resolve().parent


def main(runs: Path) -> list[str]:
    SkillCatalogue.load([HERE])  # what `wallwm skills check` does: a bad file says what is wrong
    spec = RunSpec(
        "put the red block in the bowl",
        executor="oracle",
        planner="embedded",
        resolution=64,
        skills_dirs=(str(HERE),),
    )
    with open_session(spec, runs) as session:
        final = session.run()
    skills = [event["skill"] for event in final["history"]]
    print(f"{final['status']}: {' -> '.join(skills)}")
    return skills


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("runs"))
