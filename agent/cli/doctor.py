"""`wallwm doctor`: what this machine offers, and advice for whatever required piece is missing.

Usage:
    wallwm doctor
    wallwm doctor --vlm-url http://127.0.0.1:8000/v1 --json
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Literal

from agent.planning.vlm_settings import VLMSettings

Status = Literal["ok", "warn", "fail"]


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    advice: str = ""


def check_torch() -> Check:
    try:
        import torch
    except ImportError as exc:
        return Check("torch", "fail", f"not importable: {exc}", "run scripts/install.sh")
    if torch.cuda.is_available():
        device = f"cuda ({torch.cuda.get_device_name(0)})"
    else:
        device = f"cpu ({torch.get_num_threads()} threads)"
    return Check("torch", "ok", f"{torch.__version__} on {device}")


def check_mujoco() -> Check:
    backend = os.environ.get("MUJOCO_GL", "(unset)")
    try:
        import mujoco
    except ImportError as exc:
        return Check("mujoco", "fail", f"not importable: {exc}", "run scripts/install.sh")
    scene = """<mujoco><worldbody><light pos="0 0 2"/>
      <geom type="plane" size="1 1 .1" rgba=".6 .6 .6 1"/>
      <geom type="box" pos="0 0 .1" size=".05 .05 .05" rgba="1 0 0 1"/></worldbody></mujoco>"""
    try:
        model = mujoco.MjModel.from_xml_string(scene)
        data = mujoco.MjData(model)
        mujoco.mj_forward(model, data)
        with mujoco.Renderer(model, 64, 64) as renderer:
            start = time.perf_counter()
            renderer.update_scene(data)
            image = renderer.render()
            elapsed_ms = 1000 * (time.perf_counter() - start)
    except Exception as exc:  # any GL failure is reported, whatever its type
        return Check(
            "mujoco",
            "fail",
            f"{mujoco.__version__}, MUJOCO_GL={backend}: offscreen render failed: {exc}",
            "install EGL and Mesa (sudo apt-get install libegl1 libgl1 libegl-mesa0 "
            "libgl1-mesa-dri) or run scripts/install.sh; keep MUJOCO_GL=egl",
        )
    if image.max() == 0:
        return Check(
            "mujoco", "fail", "offscreen render returned a black image", "check the GL driver"
        )
    return Check(
        "mujoco",
        "ok",
        f"{mujoco.__version__}, MUJOCO_GL={backend}, 64x64 render in {elapsed_ms:.1f} ms",
    )


# A 1-token chat request proves a model answers; a server loading it on demand may take a while.
PROBE_TIMEOUT_S = 60.0


def check_vlm(settings: VLMSettings) -> Check:
    """The server answers GET /models; the model to use is listed or, if not, answers a request.

    vLLM lists exactly the models it serves. Other OpenAI-compatible servers do not:
    `transformers serve` loads any model on demand and lists only what sits in the Hugging Face
    cache (a local folder never appears). So a model missing from the list is asked a 1-token
    question before it is declared missing."""
    if not settings.configured:
        return Check(
            "vlm",
            "ok",
            "no VLM endpoint configured: the embedded planner is used",
            "",
        )
    import httpx

    headers = {"Authorization": f"Bearer {settings.api_key}"} if settings.api_key else {}
    try:
        response = httpx.get(f"{settings.url}/models", headers=headers, timeout=5.0)
        response.raise_for_status()
        models = [entry.get("id") for entry in response.json().get("data", [])]
    except (httpx.HTTPError, ValueError, AttributeError) as exc:
        return Check(
            "vlm",
            "fail",
            f"{settings.url} does not answer GET /models: {exc}",
            "start the server (e.g. `vllm serve MODEL --port 8000`) and pass its base URL "
            "ending in /v1 with --vlm-url or WALLWM_VLM_URL",
        )
    if not settings.model:
        if not models:
            return Check(
                "vlm",
                "warn",
                f"{settings.url} lists no models and no model name is set",
                "set --vlm-model / WALLWM_VLM_MODEL to the model the server should answer with",
            )
        return Check("vlm", "ok", f"{settings.url} serves {models}")
    if settings.model in models:
        return Check("vlm", "ok", f"{settings.url} serves {models}")
    return _probe_model(settings, headers, models)


def _probe_model(settings: VLMSettings, headers: dict[str, str], models: list[str]) -> Check:
    """Ask `settings.model` for one token: the only sure test on a server that loads models on
    demand and does not list them."""
    import httpx

    listed = f"GET /models lists {models}" if models else "GET /models lists no models"
    body = {
        "model": settings.model,
        "messages": [{"role": "user", "content": "ping"}],
        "max_tokens": 1,
    }
    try:
        response = httpx.post(
            f"{settings.url}/chat/completions", json=body, headers=headers, timeout=PROBE_TIMEOUT_S
        )
    except httpx.TimeoutException:
        return Check(
            "vlm",
            "warn",
            f"{listed}, not {settings.model!r}, and a 1-token request to it took over "
            f"{PROBE_TIMEOUT_S:.0f} s (a server may still be loading it)",
            "run doctor again once the model is loaded, or check --vlm-model",
        )
    except httpx.HTTPError as exc:
        return Check("vlm", "fail", f"{listed}; asking {settings.model!r} failed: {exc}")
    if response.is_success:
        return Check(
            "vlm",
            "ok",
            f"{settings.url} answers with {settings.model!r} (not listed: {listed}; the server "
            "loads models on demand)",
        )
    return Check(
        "vlm",
        "fail",
        f"{listed}, not {settings.model!r}, and asking it failed with HTTP "
        f"{response.status_code}: {response.text[:300]}",
        "set --vlm-model / WALLWM_VLM_MODEL to a model the server serves",
    )


def check_checkpoints() -> Check:
    from agent.execution.registry import AUTO, LEARNED_DEFAULT, resolve
    from worldmodel.locate import checkpoint_search_dirs, find_checkpoints

    found = find_checkpoints()
    searched = ", ".join(str(p) for p in checkpoint_search_dirs())
    listed = ", ".join(str(p) for p in found) or "none"
    auto = resolve(AUTO, {path.name for path in found})
    if auto != LEARNED_DEFAULT:
        return Check(
            "checkpoints",
            "warn",
            f"no {LEARNED_DEFAULT!r} checkpoint in {searched} (found: {listed}), so "
            "`--executor auto` runs the simulator oracle, not a learned model",
            "reinstall the project (scripts/install.sh) or add the checkpoint's folder to "
            "WALLWM_CHECKPOINT_PATH",
        )
    return Check("checkpoints", "ok", f"{listed}; `--executor auto` runs {auto!r}")


def run_checks(settings: VLMSettings) -> list[Check]:
    checks: list[Callable[[], Check]] = [
        check_torch,
        check_mujoco,
        lambda: check_vlm(settings),
        check_checkpoints,
    ]
    return [check() for check in checks]


def print_table(checks: list[Check]) -> None:
    from rich.console import Console
    from rich.table import Table

    colours = {"ok": "green", "warn": "yellow", "fail": "red"}
    table = Table(title="wallwm doctor")
    for column in ("check", "status", "detail", "advice"):
        table.add_column(column, overflow="fold")
    for check in checks:
        status = f"[{colours[check.status]}]{check.status}[/]"
        table.add_row(check.name, status, check.detail, check.advice)
    Console().print(table)


def run(args: argparse.Namespace) -> int:
    settings = VLMSettings.resolve(args.vlm_url, args.vlm_model, args.vlm_api_key)
    checks = run_checks(settings)
    if args.json:
        print(json.dumps([asdict(check) for check in checks], indent=2))
    else:
        print_table(checks)
    return 1 if any(check.status == "fail" for check in checks) else 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "doctor",
        help="check this machine: torch, MuJoCo rendering, VLM endpoint, checkpoints",
        description="Print what this machine offers and exit non-zero if something required "
        "is missing.",
    )
    parser.add_argument("--vlm-url", help="OpenAI-compatible base URL (env WALLWM_VLM_URL)")
    parser.add_argument("--vlm-model", help="model name the server must serve (WALLWM_VLM_MODEL)")
    parser.add_argument("--vlm-api-key", help="bearer token (env WALLWM_VLM_API_KEY)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=run)
