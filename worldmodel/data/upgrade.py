"""Rewrite a dataset of wallwm's earlier layout in the current one (`wallwm data upgrade`).

Every episode is read and checked, then written again by DatasetWriter into a sibling folder,
which replaces the original only once it is complete: an interruption leaves the original as it
was. Videos are re-encoded (with keyframes every KEYFRAME_INTERVAL frames), which costs H.264 one
more generation: about one grey level on average at our crf 18.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from worldmodel.data.episode import EpisodeRecord
from worldmodel.data.reader import DatasetError, DatasetReader
from worldmodel.data.writer import DatasetWriter


def upgrade(
    root: Path,
    state_names: tuple[str, ...] | None = None,
    action_names: tuple[str, ...] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Upgrade `root` in place; returns the number of episodes. Raises DatasetError when it is
    not a dataset, is already in the current layout, or has an episode that fails its checks."""
    root = Path(root)
    reader = DatasetReader(root)
    if not reader.legacy:
        raise DatasetError(f"{root} is already in the current layout; nothing to upgrade")
    staging = root.with_name(root.name + ".upgrading")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        writer = DatasetWriter(staging, robot_type=reader.info.get("robot_type") or "unknown")
        cameras = reader.cameras()
        for position in range(len(reader)):
            episode = reader.load(position)
            writer.write(
                EpisodeRecord(
                    task=episode.task,
                    cameras=cameras,
                    frames=episode.frames,
                    proprio=episode.proprio,
                    actions=episode.actions,
                    annotations=episode.events,
                    fps=reader.fps,
                    metadata=episode.metadata,
                    state_names=state_names,
                    action_names=action_names,
                )
            )
            if progress is not None:
                progress(position + 1, len(reader))
        writer.finalize()
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    retired = root.with_name(root.name + ".before-upgrade")
    shutil.rmtree(retired, ignore_errors=True)
    root.rename(retired)
    staging.rename(root)
    shutil.rmtree(retired)
    return len(reader)
