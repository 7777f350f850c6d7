"""`wallwm train`: the three stages on a tiny generated dataset, export, resume, 2-process DDP
and FSDP."""

import json
import shutil
import sys

import numpy as np
import pytest
import torch
import yaml

from agent.cli.main import main
from tests.torchrun import run_torchrun
from worldmodel.checkpoint import load_checkpoint, save_checkpoint
from worldmodel.executor import EventModeExecutor
from worldmodel.types import EventRequest, Observation

TRAIN = ["train", "--preset", "debug", "--batch", "2", "--log-every", "1", "--threads", "1"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("data") / "d"
    args = ["data", "generate", "--out", str(root), "--episodes", "2", "--size", "16"]
    assert main([*args, "--families", "containers", "--recovery-fraction", "0"]) == 0
    return root


@pytest.fixture(scope="module")
def trained(dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    common = [*TRAIN, "--data", str(dataset), "--out", str(out), "--vae-frames", "5"]
    assert main([*common, "--stage", "all", "--steps", "3"]) == 0
    return out


def test_stages_export_a_checkpoint_the_executor_loads(trained, dataset):
    export = trained / "export"
    assert {p.name for p in export.iterdir()} >= {
        "config.json",
        "video_tower.safetensors",
        "action_tower.safetensors",
        "normalization.json",
        "vae",
    }
    vae_config = json.loads((export / "vae" / "config.json").read_text())
    assert vae_config["latents_std"] != [1.0] * len(vae_config["latents_std"])  # measured
    stats = json.loads((export / "normalization.json").read_text())
    meta = json.loads((dataset / "meta" / "stats.json").read_text())
    # The debug preset predicts position and yaw relative to the event's start: their statistics
    # are those of the (small) displacements within events, not of absolute positions.
    for dim in (0, 1, 2, 5):
        assert stats["action_mean"][dim] != pytest.approx(meta["action"]["mean"][dim], abs=1e-3)
    assert stats["proprio_mean"] == pytest.approx(meta["observation.state"]["mean"], rel=1e-5)
    for stage in ("vae", "video", "action"):
        lines = (trained / stage / "losses.jsonl").read_text().splitlines()
        assert [json.loads(line)["step"] for line in lines] == [1, 2, 3]
    executor = EventModeExecutor.from_checkpoint(export)
    from agent.envs.tabletop import SimConfig, TabletopSim

    sim = TabletopSim(SimConfig(width=32, height=32))
    observation: Observation = sim.reset(5)
    sim.close()
    prediction = executor.predict(EventRequest("reach the red block", observation, 6, seed=0))
    assert prediction.actions.shape == (6, 7)
    assert prediction.frames["wrist"].shape == (6, 32, 32, 3)


def test_a_stage_resumes_where_it_stopped(trained, dataset, capsys):
    common = [*TRAIN, "--data", str(dataset), "--out", str(trained)]
    assert main([*common, "--stage", "action", "--steps", "5"]) == 0
    assert "resumed from 3" in capsys.readouterr().out
    lines = (trained / "action" / "losses.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [1, 2, 3, 4, 5]


def test_the_chunk_baseline_trains_on_fixed_windows_with_the_instruction(trained, dataset):
    from worldmodel.config import get_config
    from worldmodel.training.stages import StageSettings, open_dataset

    chunks = open_dataset(dataset, get_config("debug"), StageSettings(steps=1, chunk_steps=8))
    rng = np.random.default_rng(0)
    samples = [chunks.sample(chunks.draw_index(rng), rng) for _ in range(20)]
    assert {s.level for s in samples} == {"task"}
    assert {s.caption for s in samples} <= {"", *(e.caption for _, e in chunks.events)}
    assert all(s.end - s.start == 8 for s in samples)
    out = trained.parent / "chunk"
    shutil.copytree(trained / "export", out / "export")
    common = [*TRAIN, "--data", str(dataset), "--out", str(out)]
    assert main([*common, "--stage", "action", "--steps", "2", "--chunk", "8"]) == 0
    assert (out / "action" / "losses.jsonl").read_text().count("\n") == 2


@pytest.mark.parametrize("parallel", ["ddp", "fsdp"])
def test_two_processes_under_torchrun(trained, dataset, tmp_path, parallel):
    out = tmp_path / parallel
    shutil.copytree(trained / "export", out / "export")
    args = [*TRAIN, "--data", str(dataset), "--out", str(out), "--stage", "action", "--steps", "3"]
    args += ["--parallel", parallel]
    done = run_torchrun(["-m", "agent.cli.main", *args], timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"2 process(es) on cpu ({parallel})" in done.stdout
    assert "stage action done: step 3" in done.stdout
    assert (out / "action" / "train_state.pt").exists()
    # The exported action tower is the trained EMA (the video tower was frozen).
    exported = load_checkpoint(out / "export", "cpu")[0].state_dict()
    before = load_checkpoint(trained / "export", "cpu")[0].state_dict()
    for name, value in exported.items():
        assert type(value) is torch.Tensor
        assert torch.equal(value, before[name]) == name.startswith("video."), name


def test_packed_batches_fill_rows_with_whole_events(dataset):
    from worldmodel.config import get_config
    from worldmodel.errors import ContractError
    from worldmodel.text import build_text_encoder
    from worldmodel.training.batches import CaptionBank, PackedEventBatches
    from worldmodel.training.stages import StageSettings, open_dataset
    from worldmodel.vae import VideoVAE, build_vae

    config = get_config("debug")
    events = open_dataset(dataset, config, StageSettings(steps=1, max_event_steps=16))
    captions = CaptionBank([e.caption for _, e in events.events], build_text_encoder(config.text))
    vae = VideoVAE(build_vae(config.vae))
    batches = PackedEventBatches(events, vae, captions, rows=3, temporal_stride=4, capacity=12)
    rng = np.random.default_rng(0)
    for step in range(3):
        batch = batches(step, rng)
        layout = batch.packing
        for row in range(3):
            frame_ids, step_ids = layout.frame_event[row], layout.step_event[row]
            count = int(frame_ids.max()) + 1
            assert count >= 1 and int(step_ids.max()) + 1 == count
            assert int((frame_ids >= 0).sum()) <= 12
            for event in range(count):  # each event: keyframe, then 1 latent frame per 4 steps
                frames = int((frame_ids == event).sum())
                steps = int((step_ids == event).sum())
                assert frames == 1 + -(-steps // 4)
                assert layout.frame_local[row][frame_ids == event][0] == 0
        assert torch.equal(batch.valid, layout.step_event >= 0)
        assert (
            batch.text.shape[:2] == batch.state.shape[:2] == (3, int(layout.frame_event.max()) + 1)
        )
    assert (layout.frame_event.max(dim=1).values >= 1).any()  # rows really hold several events
    small = PackedEventBatches(events, vae, captions, rows=1, temporal_stride=4, capacity=2)
    with pytest.raises(ContractError, match="raise --pack"):
        small(0, rng)


def test_a_focus_skill_takes_its_share_of_the_draws(dataset):
    from worldmodel.config import get_config
    from worldmodel.errors import ContractError
    from worldmodel.text import build_text_encoder
    from worldmodel.training.batches import CaptionBank, EventBatches, Focus
    from worldmodel.training.stages import StageSettings, open_dataset
    from worldmodel.vae import VideoVAE, build_vae

    config = get_config("debug")
    events = open_dataset(dataset, config, StageSettings(steps=1, max_event_steps=16))
    captions = CaptionBank([e.caption for _, e in events.events], build_text_encoder(config.text))
    vae = VideoVAE(build_vae(config.vae))
    reach = {i for i, (_, event) in enumerate(events.events) if event.skill == "reach"}
    assert 0 < len(reach) < len(events) / 10

    def reach_share(focus: Focus | None) -> float:
        batches = EventBatches(events, vae, captions, 1, 4, focus=focus)
        rng = np.random.default_rng(0)
        return float(np.mean([batches.draw(rng) in reach for _ in range(4000)]))

    usual = reach_share(None)
    assert usual < 0.15
    assert reach_share(Focus("reach", 0.5)) == pytest.approx(0.5 + 0.5 * usual, abs=0.03)
    assert reach_share(Focus("reach", 1.0)) == 1.0
    both = EventBatches(events, vae, captions, 1, 4, focus=Focus("reach + move", 1.0))
    rng = np.random.default_rng(0)
    drawn = {events.events[both.draw(rng)][1].skill for _ in range(400)}
    assert drawn == {"reach", "move"}
    with pytest.raises(ContractError, match="no event of that skill; its skills are"):
        EventBatches(events, vae, captions, 1, 4, focus=Focus("juggle", 0.5))
    assert Focus.parse("reach=0.25") == Focus("reach", 0.25)
    for text in ("reach", "reach=", "=0.5", "reach=half", "reach=0", "reach=1.5"):
        with pytest.raises(ContractError, match="focus"):
            Focus.parse(text)


def test_training_with_a_focus_skill(trained, dataset):
    from worldmodel.errors import ContractError

    out = trained.parent / "focused"
    shutil.copytree(trained / "export", out / "export")
    common = [*TRAIN, "--data", str(dataset), "--out", str(out), "--focus", "reach=0.5"]
    assert main([*common, "--stage", "video", "--steps", "2"]) == 0
    assert (out / "video" / "losses.jsonl").read_text().count("\n") == 2
    with pytest.raises(ContractError, match="not to the fixed-chunk baseline"):
        main([*common, "--stage", "action", "--steps", "2", "--chunk", "8"])


def test_the_console_script_prints_a_users_error_in_one_line(dataset, monkeypatch, capsys):
    from agent.cli.main import entry
    from worldmodel.errors import ContractError

    command = ["wallwm", *TRAIN, "--data", str(dataset), "--out", "unused", "--steps", "1"]
    monkeypatch.setattr(sys, "argv", [*command, "--focus", "reach"])
    assert entry() == 2
    expected = "wallwm: error: focus 'reach'; expected SKILL=SHARE, such as reach=0.5\n"
    assert capsys.readouterr().err == expected

    def interrupted() -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr("agent.cli.main.main", interrupted)
    assert entry() == 130  # Ctrl-C where a command does not handle it: one line, status 130
    assert capsys.readouterr().err == "wallwm: interrupted\n"
    monkeypatch.undo()
    monkeypatch.setattr(sys, "argv", [*command, "--focus", "reach"])
    monkeypatch.setenv("WALLWM_TRACEBACK", "1")
    with pytest.raises(ContractError):
        entry()


def test_a_stage_exports_every_n_steps_while_it_trains(trained, dataset):
    from safetensors.torch import load_file

    from worldmodel.errors import ContractError

    out = trained.parent / "exported"
    shutil.copytree(trained / "export", out / "export")
    common = [*TRAIN, "--data", str(dataset), "--out", str(out), "--stage", "video"]
    assert main([*common, "--steps", "4", "--export-every", "2"]) == 0
    assert sorted(p.name for p in (out / "video").glob("export-*")) == ["export-2", "export-4"]
    load_checkpoint(out / "video" / "export-2")  # a whole checkpoint folder
    first = load_file(out / "video" / "export-2" / "video_tower.safetensors")
    last = load_file(out / "video" / "export-4" / "video_tower.safetensors")
    final = load_file(out / "export" / "video_tower.safetensors")
    assert all(torch.equal(last[name], final[name]) for name in final)  # the end: the export
    assert not all(torch.equal(first[name], final[name]) for name in final)  # step 2: earlier
    with pytest.raises(ContractError, match="expected at least 1"):
        main([*common, "--steps", "4", "--export-every", "0"])


def test_the_joint_stage_trains_both_towers_on_both_losses(trained, dataset):
    from safetensors.torch import load_file

    from worldmodel.training.stages import stage_plan

    out = trained.parent / "joint"
    shutil.copytree(trained / "export", out / "export")
    before = {t: load_file(out / "export" / f"{t}_tower.safetensors") for t in ("video", "action")}
    common = [*TRAIN, "--data", str(dataset), "--out", str(out), "--stage", "joint"]
    assert main([*common, "--steps", "2", "--ema-decay", "0"]) == 0
    logged = [
        json.loads(line) for line in (out / "joint" / "losses.jsonl").read_text().splitlines()
    ]
    assert len(logged) == 2 and all(r["loss_video"] > 0 and r["loss_action"] > 0 for r in logged)
    for tower, weights in before.items():
        after = load_file(out / "export" / f"{tower}_tower.safetensors")
        assert not all(torch.equal(weights[name], after[name]) for name in after), tower
    assert "joint" not in stage_plan("all")


def test_training_with_packing(trained, dataset):
    out = trained.parent / "packed"
    shutil.copytree(trained / "export", out / "export")
    common = [*TRAIN, "--data", str(dataset), "--out", str(out), "--pack", "24"]
    assert main([*common, "--stage", "video,action", "--steps", "2"]) == 0
    for stage in ("video", "action"):
        assert (out / stage / "losses.jsonl").read_text().count("\n") == 2
    from worldmodel.errors import ContractError

    with pytest.raises(ContractError, match="longest event"):
        main([*common[:-1], "3", "--stage", "action", "--steps", "3"])


def test_init_from_starts_every_stage_from_a_checkpoint(trained, dataset, tmp_path):
    from worldmodel.checkpoint import load_vae

    out = tmp_path / "tuned"
    common = [*TRAIN, "--data", str(dataset), "--out", str(out), "--vae-frames", "5"]
    # At learning rate 0 the optimiser moves nothing, so the export is the starting checkpoint.
    tuned = [*common, "--stage", "all", "--steps", "1", "--lr", "0"]
    assert main([*tuned, "--init-from", str(trained / "export")]) == 0
    started, source = load_checkpoint(out / "export")[0], load_checkpoint(trained / "export")[0]
    for name, value in source.state_dict().items():
        assert torch.equal(started.state_dict()[name], value), name
    vae, source_vae = load_vae(out / "export").state_dict(), load_vae(trained / "export")
    for name, value in source_vae.state_dict().items():
        assert torch.equal(vae[name], value), name
    # The action stage alone takes only the action tower: the video tower stays this run's own.
    own = tmp_path / "own"
    shutil.copytree(trained / "export", own / "export")
    model, stats = load_checkpoint(own / "export")
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.01)
    save_checkpoint(model, own / "export", stats)
    action_only = [*TRAIN, "--data", str(dataset), "--out", str(own), "--stage", "action"]
    action_only += ["--steps", "1", "--lr", "0", "--init-from", str(trained / "export")]
    assert main(action_only) == 0
    after = load_checkpoint(own / "export")[0].state_dict()
    for name, value in source.state_dict().items():
        assert torch.equal(after[name], value) == name.startswith("action."), name


def test_tower_stages_without_a_vae_of_their_own_take_the_init_checkpoints(
    trained, dataset, tmp_path
):
    from worldmodel.checkpoint import load_vae
    from worldmodel.errors import ContractError

    out = tmp_path / "towers"
    towers = [*TRAIN, "--data", str(dataset), "--out", str(out), "--stage", "video", "--steps", "1"]
    with pytest.raises(ContractError, match="run the vae stage first"):
        main(towers)
    assert main([*towers, "--init-from", str(trained / "export")]) == 0
    # The export carries the VAE the towers were trained on, so the executor can load it.
    vae, source = load_vae(out / "export").state_dict(), load_vae(trained / "export").state_dict()
    assert vae.keys() == source.keys()
    assert all(torch.equal(vae[name], value) for name, value in source.items())
    EventModeExecutor.from_checkpoint(out / "export", device="cpu")


def test_init_from_a_checkpoint_of_another_preset_is_refused(dataset, tmp_path):
    from worldmodel.errors import CheckpointMismatchError

    common = [*TRAIN, "--data", str(dataset), "--out", str(tmp_path / "run"), "--vae-frames", "5"]
    with pytest.raises(CheckpointMismatchError, match="vae"):
        main([*common, "--stage", "vae", "--steps", "1", "--init-from", "tiny"])


def test_tower_stages_of_one_command_encode_each_clip_once(trained, dataset, monkeypatch):
    from worldmodel.training.batches import EventBatches
    from worldmodel.training.latent_store import window_key
    from worldmodel.vae import VideoVAE

    encoded, windows = [], set()
    encode, latents = VideoVAE.encode, EventBatches.latents

    def counting_encode(self, frames):
        encoded.append(1)
        return encode(self, frames)

    def recording_latents(self, sample):
        windows.add(window_key(sample))
        return latents(self, sample)

    monkeypatch.setattr(VideoVAE, "encode", counting_encode)
    monkeypatch.setattr(EventBatches, "latents", recording_latents)
    out = trained.parent / "shared"
    shutil.copytree(trained / "export", out / "export")
    common = [*TRAIN, "--data", str(dataset), "--out", str(out), "--pack", "24"]
    assert main([*common, "--stage", "video,action", "--steps", "3"]) == 0
    # Both stages drew windows; a window the video stage encoded the action stage reused.
    assert len(encoded) == len(windows) > 0


def test_a_latent_cache_serves_later_commands(trained, dataset, tmp_path, monkeypatch):
    from worldmodel.data.reader import DatasetReader
    from worldmodel.vae import VideoVAE

    encoded: list[int] = []
    encode = VideoVAE.encode

    def counting_encode(self, frames):
        encoded.append(1)
        return encode(self, frames)

    monkeypatch.setattr(VideoVAE, "encode", counting_encode)
    decoded: list[int] = []  # episodes whose video was decoded
    load = DatasetReader.load

    def counting_load(self, position, low_dim=None):
        decoded.append(position)
        return load(self, position, low_dim)

    monkeypatch.setattr(DatasetReader, "load", counting_load)
    cache = tmp_path / "latents"

    def video_stage(name: str) -> str:
        out = tmp_path / name
        shutil.copytree(trained / "export", out / "export")
        args = [*TRAIN, "--data", str(dataset), "--out", str(out), "--stage", "video"]
        assert main([*args, "--steps", "3", "--latent-cache", str(cache)]) == 0
        return (out / "video" / "losses.jsonl").read_text()

    cold_losses = video_stage("cold")
    cold = len(encoded)
    windows = sorted(cache.glob("*/*.pt"))
    assert cold > 0 and len(windows) == cold  # one file per encoded window
    assert decoded  # the cold command decoded episodes to encode their windows
    decoded.clear()
    assert video_stage("warm") == cold_losses  # the same latents, so the same training
    assert len(encoded) == cold  # and nothing encoded again
    assert decoded == []  # nor any video decoded
    windows[0].write_bytes(b"damaged")  # a damaged window is encoded again and rewritten
    video_stage("damaged")
    assert len(encoded) == cold + 1
    assert torch.load(windows[0], weights_only=True).dtype == torch.float16


def test_the_latent_cache_folder_changes_with_the_vae_and_the_dataset(trained, dataset):
    from worldmodel.checkpoint import load_vae
    from worldmodel.config import get_config
    from worldmodel.training.latent_store import fingerprint
    from worldmodel.training.stages import StageSettings, open_dataset

    events = open_dataset(dataset, get_config("debug"), StageSettings(steps=1))
    vae = load_vae(trained / "export")
    first = fingerprint(vae, events, 4)
    assert fingerprint(vae, events, 4) == first
    assert fingerprint(vae, events, 2) != first
    with torch.no_grad():
        next(vae.parameters()).add_(1e-3)
    assert fingerprint(vae, events, 4) != first
    retrained = fingerprint(vae, events, 4)
    events.reader.episodes[0]["length"] += 1  # the dataset changed
    assert fingerprint(vae, events, 4) != retrained


def test_an_action_stage_with_marks_adds_every_target_input_to_an_old_checkpoint(
    trained, dataset, tmp_path
):
    out = tmp_path / "marked"
    marked = [*TRAIN, "--data", str(dataset), "--out", str(out), "--stage", "action", "--marks"]
    marked += ["--steps", "1", "--lr", "0", "--init-from", str(trained / "export")]
    assert main([*marked, "--skills", "--hide-proprio", "6"]) == 0
    model, _ = load_checkpoint(out / "export")
    config = model.config
    assert config.video.mark_channels and config.action.target_points and config.action.countdown
    assert config.action.skills and config.action.hidden_proprio == (6,)
    record = yaml.safe_load((out / "export" / "training.yaml").read_text())
    assert record["commands"][-1]["skills"] and record["commands"][-1]["hide_proprio"] == [6]
    assert config.anchor_actions and config.anchor_keep_height == ("move",)
    assert config.anchor_in_place == ("grasp", "lift", "release")
    assert not model.action.step_countdown.weight.any()  # learning rate 0: still zero
