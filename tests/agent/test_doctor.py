"""`wallwm doctor` reports this machine and fails with advice when something required is missing."""

import json
import socket

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
