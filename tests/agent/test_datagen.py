"""`wallwm data generate/check`: expert episodes become a LeRobot dataset that resumes exactly."""

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from agent.cli.main import main
from agent.envs.tabletop import (
    Episode,
    RunConfig,
    SimConfig,
    TabletopSim,
    get_task,
    run_episode,
)
from agent.envs.tabletop.datagen import (
    EVAL_SEED_OFFSET,
    GenerationConfig,
    episode_to_record,
    plan_episode,
)
from worldmodel.data.reader import DatasetReader
from worldmodel.errors import ContractError


def test_plans_are_deterministic_and_recovery_only_where_a_grasp_comes_first():
    plans = [plan_episode(i, 3, ("drawer", "containers"), 1.0) for i in range(6)]
    assert plans == [plan_episode(i, 3, ("drawer", "containers"), 1.0) for i in range(6)]
    assert [p.recovery for p in plans] == [False, True] * 3  # drawer tasks open first
    assert all(p.sim_seed < EVAL_SEED_OFFSET for p in plans)
    with pytest.raises(ContractError, match="held-out"):
        plan_episode(0, 10, ("drawer",), 0.0)


def test_episode_converts_with_four_levels_and_the_final_observation():
    sim = TabletopSim(SimConfig(width=32, height=32))
    episode = run_episode(sim, get_task("drawer_red"), 0, RunConfig())
    sim.close()
    record = episode_to_record(episode)
    assert record.length == episode.steps + 1
    np.testing.assert_array_equal(record.frames["front"][-1], episode.frames["front"][-1])
    np.testing.assert_array_equal(record.actions[-1], record.actions[-2])
    levels = {a.level for a in record.annotations}
    assert levels == {"task", "subtask", "action", "segment"}
    grasp = next(a for a in record.annotations if a.caption == "grasp the red block")
    assert grasp.skill == "grasp" and grasp.arguments == {"object": "red_block"}
    assert record.metadata["cameras"][0]["intrinsics"] is not None


def test_interrupted_generation_resumes_to_the_same_dataset(tmp_path, capsys):
    args = ["data", "generate", "--families", "containers", "--size", "24", "--seed", "1"]
    assert main([*args, "--out", str(tmp_path / "a"), "--episodes", "2"]) == 0
    assert main([*args, "--out", str(tmp_path / "b"), "--episodes", "1"]) == 0
    assert main([*args, "--out", str(tmp_path / "b"), "--episodes", "2"]) == 0
    assert "episodes/min" in capsys.readouterr().out
    for name in ("data/chunk-000/file-001.parquet", "meta/episodes/chunk-000/file-001.parquet"):
        assert pq.read_table(tmp_path / "a" / name).equals(pq.read_table(tmp_path / "b" / name))
    reader = DatasetReader(tmp_path / "b")
    assert len(reader) == 2 and reader.load(1).frames["wrist"].shape[1:] == (24, 24, 3)
    assert main(["data", "check", str(tmp_path / "b")]) == 0
    assert "ok" in capsys.readouterr().out


def test_check_names_the_broken_episode(tmp_path, capsys):
    root = tmp_path / "d"
    main(["data", "generate", "--out", str(root), "--episodes", "1", "--size", "24"])
    next(root.glob("videos/observation.images.side/*/*.mp4")).unlink()
    assert main(["data", "check", str(root)]) == 1
    out = capsys.readouterr().out
    assert "PROBLEM: episode 0" in out and "observation.images.side" in out


def test_check_and_upgrade_an_earlier_dataset(tmp_path, capsys, monkeypatch):
    from agent.cli.main import entry

    root = tmp_path / "old"
    shutil.copytree(Path(__file__).parents[1] / "worldmodel/data/legacy_dataset", root)
    assert main(["data", "check", str(root)]) == 0
    out = capsys.readouterr().out
    assert "OUTDATED: meta/tasks.parquet" in out and f"`wallwm data upgrade {root}`" in out
    assert main(["data", "upgrade", str(root)]) == 0
    assert main(["data", "check", str(root)]) == 0
    out = capsys.readouterr().out
    assert "OUTDATED" not in out and "a keyframe every 2 frames" in out and out.endswith("ok\n")
    monkeypatch.setattr(sys, "argv", ["wallwm", "data", "upgrade", str(root)])
    assert entry() == 2
    assert capsys.readouterr().err == (
        f"wallwm: error: {root} is already in the current layout; nothing to upgrade\n"
    )


def test_check_names_a_field_that_is_off(tmp_path, capsys):
    root = tmp_path / "d"
    main(["data", "generate", "--out", str(root), "--episodes", "1", "--size", "24"])
    stats = json.loads((root / "meta/stats.json").read_text())
    del stats["observation.images.front"]
    (root / "meta/stats.json").write_text(json.dumps(stats))
    capsys.readouterr()
    assert main(["data", "check", str(root)]) == 1
    out = capsys.readouterr().out
    assert "LAYOUT: meta/stats.json: feature 'observation.images.front' has no statistics" in out


def test_every_action_event_records_where_its_object_and_destination_were(tmp_path):
    sim = TabletopSim(SimConfig(width=64, height=64))
    try:
        first = sim.reset(0)
        block = sim.object_pose("red_block")[0]
        episode = run_episode(sim, get_task("bowl_red_blue"), 0, RunConfig())
    finally:
        sim.close()
    record = episode_to_record(episode)
    actions = [a for a in record.annotations if a.level == "action"]
    assert all(a.targets for a in actions)
    assert not any(a.targets for a in record.annotations if a.level != "action")
    reach = actions[0]
    assert reach.skill == "reach" and [(t.role, t.name) for t in reach.targets] == [
        ("object", "red_block")
    ]
    np.testing.assert_allclose(reach.targets[0].position, block, atol=1e-3)
    # the front camera's point is the block's centre projected with its calibration
    front = first.cameras[0]
    x, y, depth = front.intrinsics @ (np.linalg.inv(front.extrinsics) @ np.append(block, 1))[:3]
    np.testing.assert_allclose(reach.targets[0].points["front"], (x / depth / 64, y / depth / 64))
    move = next(a for a in actions if a.skill == "move")
    assert [(t.role, t.name) for t in move.targets] == [
        ("object", "red_block"),
        ("destination", "bowl"),
    ]
    assert {"front", "side"} <= set(move.targets[1].points)
    # and they survive the simulator episode's own save and load
    assert Episode.load(episode.save(tmp_path / "episode")).events == episode.events


def test_reach_jitter_moves_where_the_reaches_end_and_the_episode_still_succeeds():
    from agent.envs.tabletop.skills import ExpertConfig

    ends = {}
    sim = TabletopSim(SimConfig(width=32, height=32))
    try:
        for jitter in (0.0, 0.012):
            config = RunConfig(recover=True, expert=ExpertConfig(reach_jitter=jitter))
            episode = run_episode(sim, get_task("bowl_red_blue"), 3, config)
            assert episode.success
            reaches = [e for e in episode.events if e.skill == "reach"]
            ends[jitter] = [
                np.subtract(episode.actions[e.end - 1, :3], e.targets[0].position) for e in reaches
            ]
    finally:
        sim.close()
    exact, jittered = np.array(ends[0.0]), np.array(ends[0.012])
    assert np.abs(exact).max() < 1e-3  # the block's centre
    offsets = np.linalg.norm(jittered[:, :2], axis=1)
    assert (offsets > 1e-3).all() and (offsets <= 2 * 0.012 * np.sqrt(2) + 1e-6).all()
    assert (jittered[:, 2] >= -1e-6).all() and (jittered[:, 2] <= 0.012 + 1e-6).all()
    with pytest.raises(ContractError, match=r"--reach-jitter 0\.05"):
        GenerationConfig(episodes=1, reach_jitter=0.05)


def test_carry_jitter_moves_where_lifts_and_moves_end_and_the_episode_still_succeeds():
    from agent.envs.tabletop.skills import ExpertConfig

    jitter = 0.012
    sim = TabletopSim(SimConfig(width=32, height=32))
    try:
        config = RunConfig(recover=True, expert=ExpertConfig(carry_jitter=jitter))
        episode = run_episode(sim, get_task("stack_three"), 3, config)
    finally:
        sim.close()
    assert episode.success  # places still end on the spot: they start from where moves ended
    carry = ExpertConfig().carry_height
    lifts = [episode.actions[e.end - 1, 2] for e in episode.events if e.skill == "lift"]
    assert all(carry - 2 * jitter - 1e-6 <= z < carry - 1e-4 for z in lifts)
    moves = [e for e in episode.events if e.skill == "move"]
    offsets = [
        np.linalg.norm(episode.actions[e.end - 1, :2] - e.targets[1].position[:2]) for e in moves
    ]
    assert all(1e-3 < offset <= 2 * jitter * np.sqrt(2) + 1e-6 for offset in offsets)
    # each move climbs back to the carry height its lift stopped short of
    assert all(abs(episode.actions[e.end - 1, 2] - carry) < 1e-6 for e in moves)
    with pytest.raises(ContractError, match=r"--carry-jitter 0\.05"):
        GenerationConfig(episodes=1, carry_jitter=0.05)
