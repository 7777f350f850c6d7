"""Issue a task from Python: the API a developer embeds.

    MUJOCO_GL=egl .venv/bin/python examples/issue_a_task.py [RUNS_DIR]

A RunSpec says what to do and with what (planner, executor, budgets); open_session builds the run
(simulator, executor, planner, verifier, the goal read from the instruction) and `run` drives it
to the end. The goal is judged in the scene the cameras show at the end.
"""

from __future__ import annotations

import sys
from pathlib import Path

from agent.run_spec import RunSpec
from agent.session import open_session


def main(runs: Path) -> dict:
    spec = RunSpec(
        "put the red block in the bowl, then stack the green block on the blue one",
        executor="oracle",  # the simulator's upper bound; a checkpoint name runs WALL-WM
        planner="embedded",  # offline; "vlm" with vlm_url and vlm_model asks a served VLM
        resolution=64,
    )
    with open_session(spec, runs) as session:
        print(session.goal.describe())
        final = session.run()
        for event in final["history"]:
            print(f"  {event['caption']}: {'ok' if event['ok'] else 'failed'}")
        metrics = session.metrics
    print(f"{final['status']}: goal met {metrics['goal_met']}, {metrics['events']} events")
    print(f"episode: {runs / session.thread_id} (wallwm replay it)")
    return metrics


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("runs"))
