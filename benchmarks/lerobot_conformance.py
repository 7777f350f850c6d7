"""Conformance of our event datasets with LeRobot's own code: read, append, delete, aggregate.

Run it with a Python that has lerobot installed (LeRobot pins torch < 2.11 and pulls
torchvision, so it lives in its own environment, not in the project's .venv):

    .venv/bin/wallwm data generate --out /tmp/a --episodes 3 --size 32 --seed 0
    .venv/bin/wallwm data generate --out /tmp/b --episodes 2 --size 32 --seed 1
    PYTHONPATH=. /work/lerobot-venv/bin/python benchmarks/lerobot_conformance.py /tmp/a /tmp/b \
        --work /tmp/conformance [--record]

It imports nothing of ours (only lerobot, numpy, pyarrow), does what a LeRobot user would, and
prints one line per check (PASS/FAIL and what was seen); exit status 1 if any check failed.
`--work` receives the appended, deleted, aggregated and LeRobot-written datasets (our test suite
opens them again with our own reader). `--record` rewrites its section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

EVENTS = "wallwm.events"
EPISODE = "wallwm.episode"
QUANTILE_STATS = ("min", "max", "mean", "std", "count", "q01", "q10", "q50", "q90", "q99")
NEW_TASK = "wipe the table with a cloth (appended by LeRobot)"

results: list[tuple[str, bool, str]] = []


def check(name: str, ok: bool, seen: str) -> None:
    results.append((name, bool(ok), seen))
    print(f"{'PASS' if ok else 'FAIL'}  {name}: {seen}", flush=True)


def episode_extras(root: Path) -> dict[int, tuple[str, list, dict]]:
    """episode index -> (task, events, metadata), read from the files alone."""
    tasks = {}
    for path in sorted((root / "meta/episodes").glob("*/*.parquet")):
        for row in pq.read_table(path, columns=["episode_index", "tasks"]).to_pylist():
            tasks[row["episode_index"]] = row["tasks"][0]
    extras: dict[int, tuple[str, list, dict]] = {i: (t, [], {}) for i, t in tasks.items()}
    for path in sorted((root / "data").glob("*/*.parquet")):
        table = pq.read_table(path, columns=["episode_index", "frame_index", EVENTS, EPISODE])
        for episode, frame, starting, about in zip(*table.to_pydict().values(), strict=True):
            for event in json.loads(starting) if starting else []:
                extras[episode][1].append({"start": frame, **event})
            if frame == 0 and about:
                extras[episode][2].update(json.loads(about))
    return extras


def same_episodes(before: dict, after: dict, mapping: dict[int, int]) -> tuple[bool, str]:
    """Whether every mapped episode kept its task, events and metadata."""
    lost = [old for old, new in mapping.items() if before[old] != after.get(new)]
    events = sum(len(before[old][1]) for old in mapping)
    return not lost, f"{len(mapping)} episodes, {events} events; changed: {lost or 'none'}"


def check_read(root: Path) -> None:
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    dataset = LeRobotDataset("local/ours", root=root)
    meta = dataset.meta
    check("read: opens", len(dataset) == meta.total_frames, f"{len(dataset)} frames")
    rows = meta.episodes
    wrong = []
    for episode in range(meta.total_episodes):
        first = dataset[rows[episode]["dataset_from_index"]]
        last = dataset[rows[episode]["dataset_to_index"] - 1]
        if (int(first["episode_index"]), int(first["frame_index"])) != (episode, 0):
            wrong.append(episode)
        if int(last["frame_index"]) != rows[episode]["length"] - 1:
            wrong.append(episode)
    check("read: episode boundaries", not wrong, f"wrong at {wrong or 'none'}")
    item = dataset[rows[0]["dataset_from_index"]]
    camera = meta.video_keys[0]
    height, width = meta.features[camera]["shape"][:2]
    check(
        "read: frames and vectors",
        tuple(item[camera].shape) == (3, height, width)
        and item["observation.state"].shape == (len(meta.names["observation.state"]),),
        f"{camera} {tuple(item[camera].shape)}, state {tuple(item['observation.state'].shape)}, "
        f"names {meta.names['observation.state'][:3]}...",
    )
    task = rows[0]["tasks"][0]
    check(
        "task text: item['task']",
        item["task"] == task,
        f"{item['task']!r} (episode row {task!r})",
    )
    index = meta.get_task_index(task)
    check(
        "task text: get_task_index",
        index is not None and index == int(item["task_index"]),
        f"{index} (item task_index {int(item['task_index'])})",
    )
    window = LeRobotDataset(
        "local/ours",
        root=root,
        delta_timestamps={"action": [0.0, 0.1, 0.2], camera: [-0.1, 0.0]},
    )[rows[0]["dataset_from_index"]]
    padding = window[f"{camera}_is_pad"]
    check(
        "read: delta_timestamps",
        window["action"].shape[0] == 3 and bool(padding[0]),
        f"action {tuple(window['action'].shape)}, {camera} pad {padding.tolist()}",
    )


def check_stats(root: Path) -> None:
    from lerobot.configs.types import FeatureType, NormalizationMode
    from lerobot.datasets.lerobot_dataset import LeRobotDataset
    from lerobot.datasets.utils import dataset_to_policy_features
    from lerobot.processor.normalize_processor import NormalizerProcessorStep

    dataset = LeRobotDataset("local/ours", root=root)
    meta = dataset.meta
    numeric = [k for k, f in meta.features.items() if f["dtype"] != "string"]
    missing = {k: [s for s in QUANTILE_STATS if s not in meta.stats.get(k, {})] for k in numeric}
    missing = {k: v for k, v in missing.items() if v}
    shapes = {k: tuple(np.shape(meta.stats[k]["q01"])) for k in meta.video_keys}
    check(
        "stats: every feature, quantiles",
        not missing and all(s == (3, 1, 1) for s in shapes.values()),
        f"{len(numeric)} features; missing {missing or 'none'}; camera q01 shapes {shapes}",
    )
    item = dataset[0]
    features = dataset_to_policy_features(meta.features)
    for modes in (
        {
            FeatureType.VISUAL: NormalizationMode.MEAN_STD,
            FeatureType.STATE: NormalizationMode.QUANTILES,
        },
        {
            FeatureType.STATE: NormalizationMode.QUANTILES,
            FeatureType.ACTION: NormalizationMode.QUANTILES,
        },
    ):
        step = NormalizerProcessorStep(features=features, norm_map=modes, stats=meta.stats)
        observation = {k: item[k][None] for k in [*meta.video_keys, "observation.state"]}
        normalised = step._normalize_observation(observation, inverse=False)
        action = step._normalize_action(item["action"][None], inverse=False)
        camera = meta.video_keys[0]
        changed = not bool((normalised[camera] == observation[camera]).all())
        finite = all(bool(v.isfinite().all()) for v in [*normalised.values(), action])
        names = "/".join(f"{t.name}={m.name}" for t, m in modes.items())
        check(
            f"stats: normalise {names}",
            finite and (changed or FeatureType.VISUAL not in modes),
            f"finite {finite}, camera normalised {changed}",
        )


def check_append(source: Path, work: Path) -> Path:
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    root = work / "appended"
    shutil.copytree(source, root)
    before = episode_extras(root)
    dataset = LeRobotDataset("local/appended", root=root, vcodec="h264")
    meta = dataset.meta
    for frame in range(12):
        values = {"task": NEW_TASK, EVENTS: "", EPISODE: ""}
        for key in meta.video_keys:
            height, width, _ = meta.features[key]["shape"]
            values[key] = np.full((height, width, 3), 20 * frame, np.uint8)
        for key in ("observation.state", "action"):
            values[key] = np.full(meta.features[key]["shape"], 0.01 * frame, np.float32)
        dataset.add_frame(values)
    dataset.save_episode()
    dataset.finalize()
    reopened = LeRobotDataset("local/appended", root=root)
    last = reopened[len(reopened) - 1]
    count = reopened.meta.total_episodes
    check(
        "append: LeRobot adds an episode",
        count == len(before) + 1 and last["task"] == NEW_TASK,
        f"{count} episodes; new episode's task {last['task']!r}",
    )
    after = episode_extras(root)
    ok, seen = same_episodes(before, after, {i: i for i in before})
    check("append: earlier tasks and events kept", ok, seen)
    return root


def check_delete(source: Path, work: Path) -> Path:
    from lerobot.datasets.dataset_tools import delete_episodes
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    before = episode_extras(source)
    root = work / "deleted"
    dataset = LeRobotDataset("local/ours", root=source)
    deleted = delete_episodes(dataset, [1], output_dir=root, repo_id="local/deleted")
    mapping = {old: new for new, old in enumerate(i for i in sorted(before) if i != 1)}
    ok, seen = same_episodes(before, episode_extras(root), mapping)
    item = deleted[deleted.meta.episodes[1]["dataset_from_index"]]
    ok = ok and item["task"] == before[2][0]
    check("delete: tasks and events of the rest kept", ok, f"{seen}; item task {item['task']!r}")
    return root


def check_aggregate(sources: list[Path], work: Path) -> Path:
    from lerobot.datasets.aggregate import aggregate_datasets
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    root = work / "aggregated"
    aggregate_datasets(
        [f"local/{i}" for i in range(len(sources))],
        "local/aggregated",
        roots=sources,
        aggr_root=root,
    )
    after = episode_extras(root)
    mapping_ok, seen_all = True, []
    offset = 0
    for source in sources:
        before = episode_extras(source)
        ok, seen = same_episodes(before, after, {i: i + offset for i in before})
        mapping_ok &= ok
        seen_all.append(seen)
        offset += len(before)
    dataset = LeRobotDataset("local/aggregated", root=root)
    last = dataset[len(dataset) - 1]
    expected = episode_extras(sources[-1])[max(episode_extras(sources[-1]))][0]
    check(
        "aggregate: tasks and events of both kept",
        mapping_ok and last["task"] == expected,
        "; ".join(seen_all) + f"; last item task {last['task']!r}",
    )
    stats = json.loads((root / "meta/stats.json").read_text())
    check(
        "aggregate: stats with quantiles",
        all("q99" in stats[k] for k in stats) and "observation.state" in stats,
        f"{len(stats)} features",
    )
    return root


def lerobot_written_twin(source: Path, work: Path) -> Path:
    """The first episode of `source` recorded again through LeRobot's own writer."""
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    ours = LeRobotDataset("local/ours", root=source)
    info = json.loads((source / "meta/info.json").read_text())
    features = {
        key: {k: tuple(v) if k == "shape" else v for k, v in feature.items() if k != "info"}
        for key, feature in info["features"].items()
        if key not in ("timestamp", "frame_index", "episode_index", "index", "task_index")
    }
    root = work / "lerobot-written"
    twin = LeRobotDataset.create(
        "local/twin",
        fps=info["fps"],
        features=features,
        root=root,
        robot_type=info["robot_type"],
        vcodec="h264",
    )
    row = ours.meta.episodes[0]
    for index in range(row["dataset_from_index"], row["dataset_to_index"]):
        item = ours[index]
        frame = {"task": item["task"], EVENTS: item[EVENTS], EPISODE: item[EPISODE]}
        for key in ours.meta.video_keys:
            frame[key] = (item[key].permute(1, 2, 0) * 255).round().byte().numpy()
        for key in ("observation.state", "action"):
            frame[key] = item[key].numpy()
        twin.add_frame(frame)
    twin.save_episode()
    twin.finalize()
    return root


def schema_of(path: Path) -> list[tuple[str, str]]:
    return [(f.name, str(f.type).replace("item", "element")) for f in pq.read_schema(path)]


def check_twin(source: Path, twin: Path) -> None:
    first = "chunk-000/file-000.parquet"
    for label, relative in (
        ("data rows", f"data/{first}"),
        ("episode rows", f"meta/episodes/{first}"),
        ("tasks", "meta/tasks.parquet"),
    ):
        ours, theirs = schema_of(source / relative), schema_of(twin / relative)
        differ = [a for a, b in zip(ours, theirs, strict=False) if a != b]
        check(
            f"compare with LeRobot-written: {label} columns",
            ours == theirs,
            f"{len(ours)} columns; first difference {differ[:1] or 'none'}",
        )
    ours_info = json.loads((source / "meta/info.json").read_text())
    their_info = json.loads((twin / "meta/info.json").read_text())
    keys_equal = list(ours_info) == list(their_info)

    def plain(info: dict) -> dict:
        return {
            key: {k: v for k, v in feature.items() if not k.startswith("wallwm.")}
            for key, feature in info["features"].items()
        }

    features_equal = plain(ours_info) == plain(their_info)
    features_equal &= list(ours_info["features"]) == list(their_info["features"])
    check(
        "compare with LeRobot-written: info.json",
        keys_equal and features_equal,
        f"keys in the same order {keys_equal}; features equal {features_equal} (LeRobot "
        "carries our wallwm.camera entries as given)",
    )
    ours_episode = pq.read_table(source / f"meta/episodes/{first}").to_pylist()[0]
    theirs_episode = pq.read_table(twin / f"meta/episodes/{first}").to_pylist()[0]
    worst: dict[str, float] = {}
    for key, value in theirs_episode.items():
        if not key.startswith("stats/") or "images" in key:
            continue
        worst[key] = float(np.max(np.abs(np.asarray(ours_episode[key]) - np.asarray(value))))
    gap = max(worst.values())
    check(
        "compare with LeRobot-written: episode stats of state/action/index columns",
        gap < 1e-5,
        f"{len(worst)} values, largest difference {gap:.2g} ({max(worst, key=worst.get)})",
    )
    camera = next(k for k in theirs_episode if k.startswith("stats/observation.images"))
    camera = camera.rsplit("/", 1)[0] + "/mean"
    difference = np.asarray(ours_episode[camera]) - np.asarray(theirs_episode[camera])
    mean_gap = float(np.max(np.abs(difference)))
    std_key = camera.replace("/mean", "/std")
    check(
        "compare with LeRobot-written: camera stats",
        mean_gap < 0.01,
        f"mean differs by {mean_gap:.3f} (their frames are our decoded H.264); std ours "
        f"{np.ravel(ours_episode[std_key]).round(3).tolist()} vs LeRobot "
        f"{np.ravel(theirs_episode[std_key]).round(3).tolist()} (LeRobot 0.4.4 squares uint8 "
        "pixels in uint8)",
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "datasets", nargs=2, type=Path, help="two datasets of ours (3+ episodes first)"
    )
    parser.add_argument("--work", type=Path, required=True, help="folder for the datasets made")
    parser.add_argument("--record", action="store_true", help="rewrite the RESULTS.md section")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    import lerobot

    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    first, second = (path.resolve() for path in args.datasets)
    check_read(first)
    check_stats(first)
    check_append(first, args.work)
    check_delete(first, args.work)
    check_aggregate([first, second], args.work)
    check_twin(first, lerobot_written_twin(first, args.work))
    failed = [name for name, ok, _ in results if not ok]
    passed = len(results) - len(failed)
    print(f"{passed} of {len(results)} checks passed (lerobot {lerobot.__version__})")
    if args.record:
        from benchmarks.record import markdown_table, record

        rows = [
            [name, "PASS" if ok else "FAIL", seen.replace("|", "/")] for name, ok, seen in results
        ]
        notes = (
            f"LeRobot {lerobot.__version__} in its own environment; datasets written by "
            "`wallwm data generate` (first: 3 episodes, second: 2). Command: "
            "`PYTHONPATH=. $WALLWM_LEROBOT_PYTHON benchmarks/lerobot_conformance.py A B --work W "
            "--record`."
        )
        record(
            "LeRobot conformance",
            markdown_table(["check", "result", "seen"], rows),
            notes,
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
