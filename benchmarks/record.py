"""Append a benchmark's table to benchmarks/RESULTS.md with the date, machine and commit.

Every benchmark script prints its table and calls `record(title, table)`, so results are never
copied by hand.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def machine_description() -> str:
    """CPU model, core count and, when present, the GPU: enough to compare figures fairly."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    description = f"{cpu}, {os.cpu_count()} cores"
    try:
        import torch

        if torch.cuda.is_available():
            description += f", {torch.cuda.get_device_name(0)}"
        description += f", torch {torch.__version__}"
    except ImportError:
        pass
    return description


def current_commit() -> str:
    """The short commit hash, with '+dirty' when the work tree has uncommitted changes."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(["git", "diff", "--quiet", "HEAD"], check=False).returncode != 0
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def markdown_table(header: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def record(title: str, table: str, notes: str = "", print_only: bool = False) -> None:
    """Print `table` and append it to RESULTS.md under a dated heading; with `print_only` (a
    benchmark's --no-record), print the table and notes and leave RESULTS.md as it is."""
    if print_only:
        print(table, notes, sep="\n\n")
        return
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = os.getloadavg()[0]  # other work on the machine skews timings: say how much there was
    section = (
        f"\n## {title}\n\n{stamp} · {machine_description()} · load {load:.2f} · "
        f"commit {current_commit()}\n\n{table}\n"
    )
    if notes:
        section += f"\n{notes}\n"
    print(section)
    with RESULTS.open("a") as handle:
        handle.write(section)


def record_section(title: str, table: str, notes: str = "", print_only: bool = False) -> None:
    """Like `record`, but rewrite the section headed `## title` in place (or append it when
    there is none): RESULTS.md then says where this benchmark stands now; git keeps the history."""
    if print_only:
        print(table, notes, sep="\n\n")
        return
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = os.getloadavg()[0]
    body = (
        f"{stamp} · {machine_description()} · load {load:.2f} · commit {current_commit()}\n\n"
        f"{table}\n" + (f"\n{notes}\n" if notes else "")
    )
    print(f"## {title}\n\n{body}")
    text = RESULTS.read_text() if RESULTS.exists() else ""
    heading = f"\n## {title}\n"
    start = text.find(heading)
    if start < 0:
        RESULTS.write_text(text + heading + "\n" + body)
        return
    following = text.find("\n## ", start + len(heading))
    end = len(text) if following < 0 else following
    RESULTS.write_text(text[:start] + heading + "\n" + body + text[end:])
