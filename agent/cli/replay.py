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

import numpy as np
from rich.console import Console
from rich.table import Table
from rich.text import Text

from agent.episode import EpisodeStore, EpisodeStoreError
from worldmodel.data.video import write_mp4

LABEL_HEIGHT = 12  # pixels of the strip that names the event above its tiles
GAP = 2  # pixels between tiles
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


def _label(text: str, width: int) -> np.ndarray:
    """A dark strip with `text` in PIL's built-in bitmap font: uint8 (LABEL_HEIGHT, width, 3)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, LABEL_HEIGHT), (24, 24, 24))
    ImageDraw.Draw(image).text((2, 0), text, fill=(235, 235, 235))
    return np.asarray(image)


def event_tiles(store: EpisodeStore, index: int, caption: str) -> np.ndarray | None:
    """One event as uint8 (T, H, W, 3) frames: a row per camera of predicted | observed, the
    shorter clip held on its last frame, a missing one black. None if nothing was recorded."""
    predicted, observed = store.frames(index, "predicted"), store.frames(index, "observed")
    cameras = sorted(set(predicted) | set(observed))
    if not cameras:
        return None
    clips = [clip for clip in (*predicted.values(), *observed.values()) if len(clip)]
    length = max(len(clip) for clip in clips)
    height, width = clips[0].shape[1:3]

    def fitted(clip: np.ndarray | None) -> np.ndarray:
        if clip is None or not len(clip):
            return np.zeros((length, height, width, 3), np.uint8)
        tail = np.repeat(clip[-1:], length - len(clip), axis=0)
        return np.concatenate([clip, tail])[:, :height, :width]

    gap = np.zeros((length, height, GAP, 3), np.uint8)
    rows = [
        np.concatenate([fitted(predicted.get(c)), gap, fitted(observed.get(c))], axis=2)
        for c in cameras
    ]  # each (T, H, 2W + GAP, 3)
    row_gap = np.zeros((length, GAP, rows[0].shape[2], 3), np.uint8)
    stacked = [rows[0]]
    for row in rows[1:]:
        stacked += [row_gap, row]
    tiles = np.concatenate(stacked, axis=1)  # (T, C * H + gaps, 2W + GAP, 3)
    label = _label(f"{index}: {caption}", tiles.shape[2])
    return np.concatenate([np.broadcast_to(label, (length, *label.shape)), tiles], axis=1)


def write_video(store: EpisodeStore, path: Path) -> int:
    """Every event's tiles one after the other into `path`; returns the frames written."""
    clips = []
    for recorded in store.events:
        tiles = event_tiles(store, recorded.index, recorded.record["plan"]["next_event"])
        if tiles is not None:
            clips.append(tiles)
    if not clips:
        raise EpisodeStoreError(f"{store.root} has no recorded frames to put in a video")
    height = max(clip.shape[1] for clip in clips)
    width = max(clip.shape[2] for clip in clips)
    padded = [
        np.pad(clip, ((0, 0), (0, height - clip.shape[1]), (0, width - clip.shape[2]), (0, 0)))
        for clip in clips
    ]
    frames = np.concatenate(padded)
    frames = frames[:, : height - height % 2, : width - width % 2]  # H.264 needs even sizes
    write_mp4(path, np.ascontiguousarray(frames), store.fps)
    return len(frames)


def replay(args: argparse.Namespace) -> int:
    try:
        store = EpisodeStore.open_existing(Path(args.episode))
    except EpisodeStoreError as exc:
        print(f"wallwm replay: {exc}", file=sys.stderr)
        return 2
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
            print(f"wallwm replay: {exc}", file=sys.stderr)
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
