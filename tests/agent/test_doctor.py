"""`wallwm doctor` reports this machine and fails with advice when something required is missing."""

import json
import socket

import httpx
import pytest

from agent.cli.main import main


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


@pytest.mark.slow  # the shared `transformers serve` fixture takes 10-17 s to start
def test_doctor_accepts_a_model_the_server_loads_but_does_not_list(tiny_vlm_server, capsys):
    # `transformers serve` lists only its (empty) hub cache at /v1/models; the model is a folder.
    models = httpx.get(f"{tiny_vlm_server.url}/models", timeout=10).json()["data"]
    assert tiny_vlm_server.model not in [entry["id"] for entry in models]
    argv = ["doctor", "--json", "--vlm-url", tiny_vlm_server.url]
    assert main([*argv, "--vlm-model", tiny_vlm_server.model]) == 0
    checks = {check["name"]: check for check in json.loads(capsys.readouterr().out)}
    assert checks["vlm"]["status"] == "ok"
    assert "answers with" in checks["vlm"]["detail"] and "not listed" in checks["vlm"]["detail"]


@pytest.mark.slow
def test_doctor_fails_for_a_model_the_server_cannot_answer_with(tiny_vlm_server, capsys):
    argv = ["doctor", "--json", "--vlm-url", tiny_vlm_server.url]
    assert main([*argv, "--vlm-model", "no-such-org/no-such-model"]) == 1
    check = {c["name"]: c for c in json.loads(capsys.readouterr().out)}["vlm"]
    assert check["status"] == "fail" and "'no-such-org/no-such-model'" in check["detail"]
    assert "HTTP" in check["detail"] and "--vlm-model" in check["advice"]


@pytest.mark.slow
def test_doctor_without_a_model_name_on_a_server_listing_none_warns(tiny_vlm_server, capsys):
    assert main(["doctor", "--json", "--vlm-url", tiny_vlm_server.url]) == 0
    check = {c["name"]: c for c in json.loads(capsys.readouterr().out)}["vlm"]
    assert check["status"] == "warn" and "lists no models" in check["detail"]
