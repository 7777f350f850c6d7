"""Prompt templates render only with exactly their placeholders."""

import pytest

from agent.planning.prompts import PROMPTS_PATH_ENV, PromptError, PromptLibrary

EXPECTED_PLACEHOLDERS = {
    "goal": {"instruction", "cameras", "objects", "relations", "choices", "schema"},
    "plan": {"instruction", "goal", "cameras", "skills", "history", "last_verification", "schema"},
    "verify": {
        "instruction",
        "event",
        "skill",
        "cameras",
        "success_signals",
        "divergence",
        "schema",
    },
    "recover": {
        "instruction",
        "event",
        "skill",
        "attempt",
        "retry_limit",
        "failure",
        "reason",
        "strategies",
        "cameras",
        "history",
        "schema",
    },
    "reprompt": {"error", "schema"},
}


@pytest.mark.parametrize("name", sorted(EXPECTED_PLACEHOLDERS))
def test_every_call_site_has_a_template_that_renders(name):
    library = PromptLibrary()
    template = library.template(name)
    assert template.placeholders == EXPECTED_PLACEHOLDERS[name]
    values = {key: f"<{key}>" for key in template.placeholders}
    text = library.render(name, **values)
    assert all(f"<{key}>" in text for key in values)
    assert "{{" not in text


def test_missing_and_unknown_values_are_named():
    library = PromptLibrary()
    with pytest.raises(PromptError) as info:
        library.render("reprompt", error="bad", schem="{}")
    message = str(info.value)
    assert "reprompt.md" in message
    assert "no value for placeholder(s) ['schema']" in message
    assert "value(s) ['schem'] match no placeholder" in message


def test_single_braces_stay_text(tmp_path):
    (tmp_path / "demo.md").write_text('Answer like {"a": 1} for {{ who }}.\n')
    assert PromptLibrary([tmp_path]).render("demo", who="you") == 'Answer like {"a": 1} for you.'


def test_env_folder_overrides_the_bundled_template(tmp_path, monkeypatch):
    (tmp_path / "reprompt.md").write_text("Again: {{error}} {{schema}}")
    monkeypatch.setenv(PROMPTS_PATH_ENV, str(tmp_path))
    assert PromptLibrary().render("reprompt", error="e", schema="s") == "Again: e s"


def test_a_missing_template_says_where_it_looked(tmp_path):
    with pytest.raises(PromptError, match=f"no prompt template 'plann'.*{tmp_path}"):
        PromptLibrary([tmp_path]).template("plann")
