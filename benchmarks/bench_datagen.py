"""Event-data generation speed: expert episodes rendered, converted and written per minute.

Usage:
    PYTHONPATH=. MUJOCO_GL=egl python benchmarks/bench_datagen.py --episodes 10

Runs `wallwm data generate` into a temporary folder (3 cameras at 128x128, every family, 20%
recovery episodes) and reports episodes/min, frames/s and megabytes per episode.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from agent.cli.data import folder_size
from agent.envs.tabletop.datagen import GenerationConfig, Generator
from benchmarks.record import markdown_table, record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--no-record", action="store_true", help="print only")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        config = GenerationConfig(episodes=args.episodes, width=args.size, height=args.size)
        generator = Generator(Path(folder), config)
        began = time.perf_counter()
        while generator.done < args.episodes:
            generator.step()
        generator.close()
        seconds = time.perf_counter() - began
        frames = sum(1 for _ in Path(folder).glob("videos/*/*/*.mp4"))  # one file per camera
        size = folder_size(Path(folder)) / 2**20
        from worldmodel.data.reader import DatasetReader

        steps = sum(row["length"] for row in DatasetReader(Path(folder)).episodes)
    rows = [
        [
            args.episodes,
            f"{args.size}x{args.size}",
            f"{60 * args.episodes / seconds:.1f}",
            f"{steps / seconds:.0f}",
            f"{size / args.episodes:.2f}",
            frames,
        ]
    ]
    header = ["episodes", "cameras (3)", "episodes/min", "steps/s", "MiB/episode", "mp4 files"]
    table = markdown_table(header, rows)
    notes = (
        "`wallwm data generate` path: expert with retries, MuJoCo rendering (EGL), mp4 + parquet "
        "writes, one process."
    )
    record("Event-data generation speed", table, notes, print_only=args.no_record)


if __name__ == "__main__":
    main()
