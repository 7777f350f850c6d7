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
