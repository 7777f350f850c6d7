"""`wallwm sim`: lists tasks and writes readable mp4s and the episode."""

import json

from agent.cli.main import main
from worldmodel.data.video import read_mp4


def test_list(capsys):
    assert main(["sim", "--list"]) == 0
    out = capsys.readouterr().out
    assert "drawer_red" in out and "stacking" in out


def test_writes_one_mp4_per_camera(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["sim", "push_then_bowl", "--seed", "4", "--out", str(out)]) == 0
    meta = json.loads((out / "episode.json").read_text())
    for camera in ("front", "side", "wrist"):
        video = read_mp4(out / f"{camera}.mp4")
        assert video.shape == (meta["steps"] + 1, 128, 128, 3)
        assert video.std() > 10
    assert "success" in capsys.readouterr().out
    assert main(["sim", "push_then_bowl", "--seed", "4", "--out", str(out), "--tiled"]) == 0
    assert read_mp4(out / "tiled.mp4").shape[1:] == (128, 384, 3)


def test_bad_names_get_a_message_not_a_traceback(tmp_path, capsys):
    assert main(["sim", "drawer_rd", "--out", str(tmp_path)]) == 2
    assert "did you mean ['drawer_red'" in capsys.readouterr().err
    assert main(["sim", "drawer_red", "--fault", "quake", "--out", str(tmp_path)]) == 2
    assert "unknown fault 'quake'" in capsys.readouterr().err
