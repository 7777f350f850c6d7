"""Skill files load and validate; faults name the file, the field and what was expected."""

from pathlib import Path

import pytest

from agent.envs.tabletop.skills import SKILLS as EXPERT_SKILLS
from agent.skills import (
    SKILLS_PATH_ENV,
    SkillArgumentError,
    SkillCatalogue,
    SkillFileError,
    UnknownSkillError,
    load_skill,
)

# The skill files must cover exactly the skills the simulator's expert performs.
SHARED_SKILLS = set(EXPERT_SKILLS)

GOOD = """---
name: wave
description: Wave the gripper above an object.
arguments:
  object:
    description: the object to wave at
captions:
  - wave at the {object}
typical_frames: 20
success_signals:
  - the gripper moves left and right above the object
recovery: [back_off_and_retry, replan]
retry_limit: 1
---
Wave when the task asks to greet an object.
"""


HORIZON = """typical_frames: 20
horizon:
  towards: object
  steps_per_metre: 36.4
  extra_steps: 4.1
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / f"{name}.md"
    path.write_text(text)
    return path


def test_bundled_catalogue_has_the_shared_skills_and_their_captions():
    catalogue = SkillCatalogue.load()
    assert set(catalogue) >= SHARED_SKILLS
    assert catalogue["move"].caption({"object": "red_block", "target": "bowl"}) == (
        "move the red block above the bowl"
    )
    assert catalogue["place"].caption({"object": "red_block", "target": "bowl"}) == (
        "place the red block in the bowl"
    )
    assert catalogue["open"].caption({"object": "drawer"}) == "open the drawer"
    assert catalogue["grasp"].recovery[0] == "regrasp"
    assert all(skill.prompt for skill in catalogue.values())


def test_a_horizon_gives_frames_from_the_distance_travelled(tmp_path):
    skill = load_skill(write(tmp_path, "wave", GOOD.replace("typical_frames: 20\n", HORIZON)))
    assert skill.horizon is not None and not skill.horizon.across
    assert skill.horizon.frames(0.3) == 16  # ceil(4.1 + 36.4 * 0.3 = 15.02)
    assert skill.horizon.frames(0.0) == 5 and skill.horizon.frames(100.0) == 200  # the cap
    # The shipped reach and move have one; a skill without one keeps its typical_frames.
    catalogue = SkillCatalogue.load()
    assert catalogue["reach"].horizon.towards == "object"
    assert catalogue["move"].horizon.towards == "target" and catalogue["move"].horizon.across
    assert catalogue["grasp"].horizon is None


def test_unknown_skill_lists_the_known_ones_and_the_closest():
    catalogue = SkillCatalogue.load()
    with pytest.raises(UnknownSkillError) as info:
        catalogue["grap"]
    message = str(info.value)
    assert "unknown skill 'grap' (did you mean 'grasp'?)" in message
    assert all(name in message for name in SHARED_SKILLS)


def test_arguments_are_checked_against_the_skill():
    catalogue = SkillCatalogue.load()
    assert catalogue.check_call("grasp", {"object": "red_block"}).name == "grasp"
    with pytest.raises(SkillArgumentError, match=r"missing \['target'\], unknown \['where'\]"):
        catalogue.check_call("place", {"object": "red_block", "where": "bowl"})
    with pytest.raises(SkillArgumentError, match="empty"):
        catalogue.check_call("grasp", {"object": " "})


def test_a_good_new_file_loads(tmp_path):
    skill = load_skill(write(tmp_path, "wave", GOOD))
    assert skill.name == "wave" and skill.retry_limit == 1
    assert skill.caption({"object": "green_block"}) == "wave at the green block"
    assert skill.prompt == "Wave when the task asks to greet an object."


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: wave\n", "no front matter; expected the file to start with a line '---'"),
        ("---\nname: wave\n", "the front matter is not closed"),
        ("---\nname: [wave\n---\n", "the front matter is not valid YAML"),
        ("---\n- wave\n---\n", "the front matter is a list; expected a YAML mapping"),
        (
            GOOD.replace("captions:\n  - wave at the {object}", "captions: [wave at the {object}]"),
            "a caption template in a [flow, list] needs quotes",
        ),
        (
            GOOD.replace("retry_limit: 1\n", ""),
            "field 'retry_limit': field required; expected how many times the event may be "
            "retried before recovery escalates (0-10)",
        ),
        (
            GOOD.replace("retry_limit: 1", "retry_limit: three"),
            "field 'retry_limit': input should be a valid integer",
        ),
        (
            GOOD.replace("typical_frames: 20", "typical_frames: 900"),
            "field 'typical_frames': input should be less than or equal to 200, got 900; "
            "expected the usual segment length in control steps at 10 Hz (1-200)",
        ),
        (
            GOOD.replace("retry_limit: 1", "retry_limt: 1"),
            "field 'retry_limt' is not a skill field (did you mean 'retry_limit'?)",
        ),
        (
            GOOD.replace("[back_off_and_retry, replan]", "[back_off_and_retry, dance]"),
            "field 'recovery.1': input should be 'regrasp', 'back_off_and_retry', 'replan' or "
            "'human_takeover', got 'dance'",
        ),
        (
            GOOD.replace("[back_off_and_retry, replan]", "[replan, replan]"),
            "strategies ['replan'] appear more than once",
        ),
        (
            GOOD.replace("wave at the {object}", "wave at the {objekt}"),
            "caption template 'wave at the {objekt}' uses ['objekt']; every template must use "
            "exactly the declared arguments ['object']",
        ),
        (
            GOOD.replace("    description: the object to wave at\n", "    descr: x\n"),
            "field 'arguments.object.descr' is not a skill field (did you mean 'description'?)",
        ),
        (
            GOOD.replace("name: wave", "name: wave_hello"),
            "field 'name' is 'wave_hello'; expected 'wave'",
        ),
        (GOOD.replace("Wave when the task asks to greet an object.\n", ""), "field 'prompt'"),
        (
            GOOD.replace("typical_frames: 20\n", HORIZON.replace("towards: object", "towards: x")),
            "horizon towards 'x' is not an argument of the skill ['object']",
        ),
        (
            GOOD.replace("typical_frames: 20\n", HORIZON.replace("36.4", "0")),
            "field 'horizon.steps_per_metre': input should be greater than 0",
        ),
    ],
)
def test_bad_files_are_reported_with_file_and_field(tmp_path, text, expected):
    path = write(tmp_path, "wave", text)
    with pytest.raises(SkillFileError) as info:
        load_skill(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert expected in message


def test_extra_folders_add_and_override_skills(tmp_path, monkeypatch):
    from_env = tmp_path / "env"
    from_env.mkdir()
    write(from_env, "wave", GOOD)
    monkeypatch.setenv(SKILLS_PATH_ENV, str(from_env))
    flagged = tmp_path / "flag"
    flagged.mkdir()
    write(
        flagged,
        "grasp",
        GOOD.replace("name: wave", "name: grasp").replace("retry_limit: 1", "retry_limit: 5"),
    )
    catalogue = SkillCatalogue.load([flagged])
    assert "wave" in catalogue and catalogue["wave"].path == from_env / "wave.md"
    assert catalogue["grasp"].retry_limit == 5
    assert set(catalogue) == SHARED_SKILLS | {"wave"}


def test_a_missing_extra_folder_is_an_error(tmp_path):
    with pytest.raises(SkillFileError, match="does not exist"):
        SkillCatalogue.load([tmp_path / "nowhere"])


def test_catalogue_description_carries_every_skill_for_the_prompt():
    text = SkillCatalogue.load().describe()
    assert all(f"### {name}" in text for name in SHARED_SKILLS)
    assert "captions: move the {object} above the {target}" in text


def test_reserved_keys_are_refused(tmp_path):
    path = write(tmp_path, "wave", GOOD.replace("retry_limit: 1", "retry_limit: 1\nprompt: hi"))
    with pytest.raises(SkillFileError, match=r"field\(s\) \['prompt'\] may not appear"):
        load_skill(path)


def test_every_fault_of_a_file_is_reported_at_once(tmp_path):
    text = GOOD.replace("typical_frames: 20", "typical_frames: 0").replace(
        "wave at the {object}", "wave at the {objekt}"
    )
    with pytest.raises(SkillFileError) as info:
        load_skill(write(tmp_path, "wave", text))
    lines = str(info.value).splitlines()
    assert lines[0].startswith(f"{tmp_path / 'wave.md'}: field 'captions': caption template")
    assert lines[1].startswith("  field 'typical_frames': input should be greater than")


@pytest.mark.parametrize(
    ("caption", "skill", "arguments"),
    [
        ("grasp the red block", "grasp", {"object": "red_block"}),
        (
            "  Place the green  block on the blue block ",
            "place",
            {"object": "green_block", "target": "blue_block"},
        ),
        ("move the red block above the bowl", "move", {"object": "red_block", "target": "bowl"}),
        ("open the drawer", "open", {"object": "drawer"}),
        ("regrasp the yellow block", "regrasp", {"object": "yellow_block"}),
    ],
)
def test_a_caption_in_words_gives_back_skill_and_arguments(caption, skill, arguments):
    found, parsed = SkillCatalogue.load().parse_caption(caption)
    assert (found.name, parsed) == (skill, arguments)


def test_every_caption_template_reads_back_unambiguously():
    catalogue = SkillCatalogue.load()
    for skill in catalogue.values():
        arguments = {name: f"{name}_id" for name in skill.arguments}
        for index in range(len(skill.captions)):
            found, parsed = catalogue.parse_caption(skill.caption(arguments, index))
            assert (found.name, parsed) == (skill.name, arguments)


def test_an_unreadable_caption_lists_examples():
    with pytest.raises(UnknownSkillError, match="no skill's caption template matches 'dance'"):
        SkillCatalogue.load().parse_caption("dance")
