"""`wallwm doctor` reports this machine and fails with advice when something required is missing."""

import json
import socket

import pytest

from agent.cli.main import main
from tests.agent.vlm_servers import Reply


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_doctor_passes_without_vlm(capsys):
    assert main(["doctor", "--json"]) == 0
    checks = {check["name"]: check for check in json.loads(capsys.readouterr().out)}
    assert checks["torch"]["status"] == "ok" and "2.13.0" in checks["torch"]["detail"]
    assert checks["mujoco"]["status"] == "ok" and "MUJOCO_GL=egl" in checks["mujoco"]["detail"]
    assert "embedded planner" in checks["vlm"]["detail"]
    assert checks["checkpoints"]["status"] == "ok"
    assert "`--executor auto` runs 'grounded'" in checks["checkpoints"]["detail"]


def test_doctor_warns_that_auto_means_the_oracle_without_the_grounded_checkpoint(
    capsys, monkeypatch, tmp_path
):
    monkeypatch.setattr("worldmodel.locate.find_checkpoints", lambda: [tmp_path / "tiny"])
    assert main(["doctor", "--json"]) == 0
    checks = {check["name"]: check for check in json.loads(capsys.readouterr().out)}
    assert checks["checkpoints"]["status"] == "warn"
    assert "runs the simulator oracle" in checks["checkpoints"]["detail"]


def test_doctor_fails_with_advice_when_vlm_is_unreachable(capsys):
    url = f"http://127.0.0.1:{free_port()}/v1"
    assert main(["doctor", "--json", "--vlm-url", url]) == 1
    checks = {check["name"]: check for check in json.loads(capsys.readouterr().out)}
    assert checks["vlm"]["status"] == "fail"
    assert url in checks["vlm"]["detail"]
    assert "--vlm-url" in checks["vlm"]["advice"]


def test_doctor_prints_a_table(capsys):
    main(["doctor"])
    out = capsys.readouterr().out
    assert "wallwm doctor" in out and "mujoco" in out


def vlm_check(capsys, server_url: str, *model: str) -> tuple[int, dict]:
    argv = ["doctor", "--json", "--vlm-url", server_url]
    code = main([*argv, *(["--vlm-model", *model] if model else [])])
    return code, {c["name"]: c for c in json.loads(capsys.readouterr().out)}["vlm"]


# Servers differ in what GET /models lists (vLLM: what it serves; `transformers serve`: its hub
# cache, with or without a model loaded from a folder), so doctor is tested on both answers.
def test_doctor_accepts_a_model_the_server_lists(scripted_server, capsys):
    server = scripted_server([Reply(500)], models=["org/model"])
    code, check = vlm_check(capsys, server.url, "org/model")
    assert code == 0 and check["status"] == "ok" and "serves ['org/model']" in check["detail"]
    assert server.requests == []  # listed: no need to ask the model anything


def test_doctor_asks_a_model_the_server_does_not_list(scripted_server, capsys):
    server = scripted_server([Reply.chat("pong")], models=[])
    code, check = vlm_check(capsys, server.url, "org/model")
    assert code == 0 and check["status"] == "ok"
    assert "answers with 'org/model'" in check["detail"] and "not listed" in check["detail"]
    assert server.requests[0]["model"] == "org/model" and server.requests[0]["max_tokens"] == 1


def test_doctor_fails_for_a_model_the_server_cannot_answer_with(scripted_server, capsys):
    server = scripted_server([Reply(404, '{"error": "model not found"}')], models=["other"])
    code, check = vlm_check(capsys, server.url, "no-such-org/no-such-model")
    assert code == 1 and check["status"] == "fail"
    assert "'no-such-org/no-such-model'" in check["detail"] and "HTTP 404" in check["detail"]
    assert "--vlm-model" in check["advice"]


def test_doctor_without_a_model_name_on_a_server_listing_none_warns(scripted_server, capsys):
    server = scripted_server([Reply(500)], models=[])
    code, check = vlm_check(capsys, server.url)
    assert code == 0 and check["status"] == "warn" and "lists no models" in check["detail"]


@pytest.mark.slow  # the shared `transformers serve` fixture takes 10-17 s to start
def test_doctor_accepts_the_model_a_real_server_answers_with(tiny_vlm_server, capsys):
    # Listed or not (it varies with the transformers release), the model answers: doctor says ok.
    code, check = vlm_check(capsys, tiny_vlm_server.url, tiny_vlm_server.model)
    assert code == 0 and check["status"] == "ok"
    assert tiny_vlm_server.model in check["detail"] or "answers with" in check["detail"]
