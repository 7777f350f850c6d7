"""Put a benchmark's table in benchmarks/RESULTS.md, in its own section, with the date, machine,
commit and command.

Every benchmark script prints its table and calls `record(title, table)`, so results are never
copied by hand; the section of that title is rewritten in place, so RESULTS.md says where things
stand now.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import shlex
import subprocess
import sys
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
    """Print `table` and put it in RESULTS.md as the section `title`, replacing the section of
    that title (RESULTS.md holds current figures; git keeps the history); with `print_only` (a
    benchmark's --no-record), print the table and notes and leave RESULTS.md as it is."""
    if print_only:
        print(table, notes, sep="\n\n")
        return
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = os.getloadavg()[0]  # other work on the machine skews timings: say how much there was
    command = shlex.join(["python", *sys.argv]) if sys.argv and sys.argv[0] else "python"
    body = (
        f"{stamp} · {machine_description()} · load {load:.2f} · commit {current_commit()}\n\n"
        f"`{command}`\n\n{table}\n"
    )
    if notes:
        body += f"\n{notes}\n"
    print(f"## {title}\n\n{body}")
    RESULTS.write_text(replace_section(RESULTS.read_text(), title, body))


def replace_section(text: str, title: str, body: str) -> str:
    """`text` (a markdown file of `## ` sections) with the section `title` holding `body`: in
    place of the first section of that title (any later ones are dropped), else at the end."""
    preamble, *sections = text.split("\n## ")
    kept: list[str] = []
    placed = False
    for section in sections:
        if section.split("\n", 1)[0].strip() != title:
            kept.append(section.rstrip("\n") + "\n")
        elif not placed:
            kept.append(f"{title}\n\n{body}")
            placed = True
    if not placed:
        kept.append(f"{title}\n\n{body}")
    return preamble.rstrip("\n") + "\n" + "".join("\n## " + section for section in kept)
