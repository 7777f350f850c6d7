"""Fixtures of the agent tests: a real OpenAI-compatible VLM server on 127.0.0.1.

`tiny_vlm_server` builds a tiny randomly initialised LLaVA-style model (CLIP vision tower + Llama
text model, a byte-level BPE tokenizer trained here on the project's own prompts and skills, all
saved with `save_pretrained` to a temporary folder; nothing is downloaded) and serves it with
`transformers serve` on a free loopback port. Its answers are garbage, which is what the tests of
the client's invalid-output path need; the server itself is real: it decodes the base64 images,
runs the vision tower on them and answers in the OpenAI protocol.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from worldmodel.types import CameraSpec, Observation

REPO = Path(__file__).resolve().parents[2]
SERVER_START_TIMEOUT_S = 120.0
SERVING_MODULES = ("fastapi", "uvicorn", "openai")
IMAGE_TOKENS = 4  # (32 / 16) ** 2 patches of the tiny vision tower, per image
CHAT_TEMPLATE = (
    "{% for m in messages %}<s>{{ m['role'] }}: "
    "{% if m['content'] is string %}{{ m['content'] }}{% else %}"
    "{% for c in m['content'] %}{% if c['type'] == 'image' %}<image>"
    "{% else %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}</s>{% endfor %}"
    "{% if add_generation_prompt %}<s>assistant: {% endif %}"
)


@dataclass(frozen=True)
class TinyVLMServer:
    url: str  # OpenAI base URL, ending in /v1
    model: str  # the model name the server is pinned to
    start_s: float  # seconds from process start to a healthy /health
    log: Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def build_tiny_llava(folder: Path, seed: int = 0) -> None:
    """Save a random tiny LLaVA model, its processor and tokenizer into `folder`."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import (
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
        PreTrainedTokenizerFast,
    )
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    # A byte-level BPE trained on our own prompt and skill texts keeps prompts a few thousand
    # tokens long (a merge-free byte tokenizer would need one token per character).
    corpus = [p.read_text() for d in ("prompts", "skills") for p in sorted((REPO / d).glob("*.md"))]
    specials = ["<s>", "</s>", "<pad>", "<image>"]
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=1024,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(corpus, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="<s>", eos_token="</s>", pad_token="<pad>"
    )
    torch.manual_seed(seed)
    config = LlavaConfig(
        vision_config=CLIPVisionConfig(
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            image_size=32,
            patch_size=16,
        ),
        text_config=LlamaConfig(
            vocab_size=len(tokenizer),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=1,
            num_attention_heads=2,
            num_key_value_heads=2,
            max_position_embeddings=16384,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        ),
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        vision_feature_select_strategy="default",  # drop CLS: 4 features per image
    )
    LlavaForConditionalGeneration(config).save_pretrained(folder)
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessorPil(
            size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
        ),
        tokenizer=tokenizer,
        patch_size=16,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,  # the CLS token the "default" strategy drops
        chat_template=CHAT_TEMPLATE,
    )
    processor.save_pretrained(folder)


@pytest.fixture(scope="session")
def tiny_vlm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TinyVLMServer]:
    """`transformers serve` with a tiny random LLaVA on 127.0.0.1 (see the module docstring)."""
    missing = [name for name in SERVING_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(
            f"`transformers serve` needs the serving extras (missing {missing}): "
            "pip install -c constraints.txt 'transformers[serving]'"
        )
    folder = tmp_path_factory.mktemp("tiny-llava")
    build_tiny_llava(folder)
    port = free_port()
    log = folder / "serve.log"
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_HUB_CACHE": str(folder / "hub-cache"),
        "OMP_NUM_THREADS": "1",
    }
    command = [
        str(Path(sys.executable).with_name("transformers")),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--device",
        "cpu",
        str(folder),
    ]
    started = time.monotonic()
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=env)
    try:
        _wait_healthy(port, process, log, started)
        yield TinyVLMServer(
            url=f"http://127.0.0.1:{port}/v1",
            model=str(folder),
            start_s=time.monotonic() - started,
            log=log,
        )
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_healthy(port: int, process: subprocess.Popen, log: Path, started: float) -> None:
    import httpx

    while time.monotonic() - started < SERVER_START_TIMEOUT_S:
        if process.poll() is not None:
            pytest.fail(f"transformers serve exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(
        f"transformers serve not healthy after {SERVER_START_TIMEOUT_S} s:\n{log.read_text()}"
    )


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
