"""The live run display written to a log rather than a terminal."""

from __future__ import annotations

import io

from rich.console import Console

from agent.progress import RichReporter


def test_the_panel_in_a_log_ends_its_last_line():
    log = io.StringIO()
    console = Console(file=log, force_terminal=False, width=60)
    with RichReporter("stack the blocks", "tiny", max_events=30, wall_time_s=900, console=console):
        pass
    console.print("success: progress 100%")

    lines = log.getvalue().splitlines()
    assert lines[-1] == "success: progress 100%"
    assert lines[-2].startswith("events 0/30")
    assert lines[-2].rstrip().endswith("/900 s")


def test_the_timeline_shows_each_events_targets():
    log = io.StringIO()
    console = Console(file=log, force_terminal=False, width=160)

    def target(role, name, camera, x, y):
        return {"role": role, "name": name, "points": [{"camera": camera, "x": x, "y": y}]}

    plan = {
        "next_event": "place the red block in the bowl",
        "decision": "continue",
        "targets": [
            target("object", "red_block", "front", 0.42, 0.61),
            target("destination", "bowl", "side", 0.3, 0.5),
        ],
    }
    with RichReporter("put red in the bowl", "oracle", 30, 900, console=console) as reporter:
        reporter.event("plan", source="embedded", plan=plan)
    assert "red_block f.42,.61 -> bowl s.30,.50" in log.getvalue()
