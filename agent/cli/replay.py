"""`wallwm replay`: look at a recorded episode again, event by event.

Usage:
    wallwm replay runs/20261121-052031-put-the-red-block            # the event timeline
    wallwm replay runs/20261121-052031-put-the-red-block --video out.mp4
    wallwm replay runs/20261121-052031-put-the-red-block --json     # one JSON object per event

The timeline (from events.jsonl, recoveries.jsonl and metrics.json) shows each event with its
attempt, steps, divergence against the threshold on every camera, the verdict and the recovery
decided after it. The video tiles every event's predicted | observed frames side by side, one row
per camera, events one after the other, each under a strip naming it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from agent.cli.output import refuse
from agent.episode import EpisodeStore, EpisodeStoreError
from agent.studies.episode_video import write_video

WIDE = 200  # columns of the table when the output is not a terminal


def timeline(store: EpisodeStore) -> list[dict[str, Any]]:
    """One row per recorded event: what ran, how it compared, and what was decided after it."""
    decisions = {d["key"]: d for d in store.recoveries}
    rows = []
    for recorded in store.events:
        record = recorded.record
        verdict = record["verdict"]
        decision = decisions.get(record["key"])
        rows.append(
            {
                "index": recorded.index,
                "key": record["key"],
                "event": record["plan"]["next_event"],
                "attempt": record.get("attempt", 0),
                "steps": record["pending"]["steps"],
                "cameras": {
                    c["camera"]: {
                        "score": c["score"],
                        "threshold": c["threshold"],
                        "diverged": c["diverged"],
                    }
                    for c in verdict["cameras"]
                },
                "verdict": f"diverged: {verdict['failure']}" if verdict["diverged"] else "ok",
                "calibrated": verdict["calibrated"],
                "recovery": (
                    None
                    if decision is None
                    else {"strategy": decision["strategy"], "queued": decision["queued"]}
                ),
                "progress": record.get("progress"),
            }
        )
    return rows


def render_table(rows: list[dict[str, Any]]) -> Table:
    cameras = list(rows[0]["cameras"]) if rows else []
    table = Table(show_edge=False)
    for column in ("#", "event", "attempt", "steps"):
        table.add_column(column, justify="right" if column != "event" else "left")
    for camera in cameras:
        table.add_column(f"{camera} div/thr", justify="right")
    table.add_column("verdict")
    table.add_column("recovery")
    for row in rows:
        cells = []
        for camera in cameras:
            report = row["cameras"].get(camera)
            if report is None:
                cells.append(Text("-"))
                continue
            text = f"{report['score']:.3f}/{report['threshold']:.3f}"
            cells.append(Text(text, style="red bold" if report["diverged"] else ""))
        recovery = row["recovery"]
        decided = (
            ""
            if recovery is None
            else recovery["strategy"]
            + (f" -> {'; '.join(recovery['queued'])}" if recovery["queued"] else "")
        )
        table.add_row(
            str(row["index"]),
            row["event"],
            str(row["attempt"]),
            str(row["steps"]),
            *cells,
            Text(row["verdict"], style="green" if row["verdict"] == "ok" else "red"),
            decided,
        )
    return table


def replay(args: argparse.Namespace) -> int:
    try:
        store = EpisodeStore.open_existing(Path(args.episode))
    except EpisodeStoreError as exc:
        return refuse(str(exc))
    rows = timeline(store)
    metrics = store.metrics
    if args.json:
        for row in rows:
            print(json.dumps(row))
        print(json.dumps({"metrics": metrics}))
    else:
        # Piped output keeps one row per event rather than wrapping at 80 columns.
        console = Console() if sys.stdout.isatty() else Console(width=WIDE)
        spec = store.header.get("spec", {})
        console.print(f"[bold]{spec.get('instruction', store.root.name)}[/]  ({store.root})")
        console.print(render_table(rows))
        if metrics is None:
            console.print("[yellow]unfinished[/]: no metrics.json (resume it with wallwm run)")
        else:
            console.print(
                f"[bold]{metrics['status']}[/]: progress {metrics['progress']:.0f}%, "
                f"{metrics['events']} events, {metrics['failed_events']} diverged, "
                f"{metrics['recoveries']} recoveries, {metrics['wall_time_s']} s"
            )
    if args.video:
        try:
            count = write_video(store, Path(args.video))
        except EpisodeStoreError as exc:
            print(f"wallwm: error: {exc}", file=sys.stderr)
            return 1
        print(f"wrote {args.video}: {count} frames at {store.fps} fps", file=sys.stderr)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "replay",
        help="show a recorded episode's event timeline; optionally a predicted|observed video",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("episode", help="an episode folder (runs/<id>)")
    parser.add_argument("--video", metavar="OUT.mp4", help="write predicted | observed tiles")
    parser.add_argument("--json", action="store_true", help="one JSON object per event")
    parser.set_defaults(func=replay)
