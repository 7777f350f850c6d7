"""`wallwm skills list` and `check` tell an integrator what is there and what is wrong."""

import json

from agent.cli.main import main

WAVE = """---
name: wave
description: Wave the gripper above an object.
arguments:
  object:
    description: the object to wave at
captions:
  - wave at the {object}
typical_frames: 20
success_signals: [the gripper moves left and right]
recovery: [replan]
retry_limit: 1
---
Wave when asked to.
"""


def test_list_prints_every_skill(capsys):
    assert main(["skills", "list"]) == 0
    out = capsys.readouterr().out
    assert "wallwm skills (10)" in out
    for name in ("reach", "grasp", "regrasp", "open", "close"):
        assert name in out


def test_list_json_includes_a_new_folder(tmp_path, capsys):
    (tmp_path / "wave.md").write_text(WAVE)
    assert main(["skills", "list", "--json", "--skills-dir", str(tmp_path)]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert len(rows) == 11
    assert rows["wave"]["path"] == str(tmp_path / "wave.md")
    assert rows["move"]["arguments"]["target"]["description"]


def test_check_passes_the_bundled_folder(capsys):
    assert main(["skills", "check", "skills"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 10 and all(line.startswith("ok   skills/") for line in lines)


def test_check_fails_with_the_exact_fault(tmp_path, capsys):
    bad = tmp_path / "wave.md"
    bad.write_text(WAVE.replace("retry_limit: 1", "retry_limit: 11"))
    assert main(["skills", "check", str(bad)]) == 2
    captured = capsys.readouterr()
    assert captured.err == "wallwm: error: 1 of 1 skill file(s) failed the check (see FAIL above)\n"
    assert captured.out == (
        f"FAIL {bad}: field 'retry_limit': input should be less than or equal to 10, got 11; "
        "expected how many times the event may be retried before recovery escalates (0-10)\n"
    )


def test_check_of_a_good_file_summarises_it(tmp_path, capsys):
    good = tmp_path / "wave.md"
    good.write_text(WAVE)
    assert main(["skills", "check", str(good)]) == 0
    assert capsys.readouterr().out == (
        f"ok   {good}: skill 'wave': arguments ['object'], 1 caption template(s), 20 frames, "
        "recovery ['replan'], retry limit 1\n"
    )


def test_list_fails_on_a_bad_file_in_an_extra_folder(tmp_path, capsys):
    (tmp_path / "wave.md").write_text(WAVE.replace("name: wave", "name: Wave"))
    assert main(["skills", "list", "--skills-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("wallwm: error: ") and "field 'name'" in err and err.count("\n") == 1


def test_check_of_a_missing_file_says_so(tmp_path, capsys):
    missing = tmp_path / "nope.md"
    assert main(["skills", "check", str(missing)]) == 2
    assert capsys.readouterr().out == f"FAIL {missing}: cannot be read: No such file or directory\n"
