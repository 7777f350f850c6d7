"""An OpenAI-compatible chat-completions client (httpx) for a served VLM; vLLM is the target.

What it promises:
- images go as base64 PNG/JPEG data URLs in `image_url` content parts, one per camera, each
  preceded by a text part naming the camera;
- structured output is asked for with `response_format: {"type": "json_schema", ...}` (vLLM
  constrains decoding with it; servers that ignore it still answer, and validation catches that);
- connection errors, timeouts, HTTP 429 and 5xx are retried a bounded number of times with
  exponential backoff, all within one time budget per request, then VLMUnavailableError;
- an answer that is not valid JSON for the caller's validator is reprompted once with the
  validation error (prompts/reprompt.md), then VLMInvalidOutputError;
- any other HTTP error (4xx: a request the server refuses) raises VLMRequestError at once.
Every error message says what to do next.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import httpx
import numpy as np

from agent.planning.base import PlannerUnavailableError
from agent.planning.prompts import PromptLibrary
from agent.planning.vlm_settings import VLMSettings
from worldmodel.errors import ContractError, WallwmError

logger = logging.getLogger(__name__)

T = TypeVar("T")
Message = dict[str, Any]

# Shown after every failure that a missing or unhealthy server explains.
_SERVER_ADVICE = (
    "start the server (e.g. `vllm serve MODEL --port 8000`), check --vlm-url / WALLWM_VLM_URL "
    "(the base URL ends in /v1), or run without a VLM URL to use the embedded planner"
)
# How much of a server's error body or a model's bad answer to quote in messages and reprompts.
_QUOTE_CHARS = 500


class VLMError(WallwmError):
    """Base class of the VLM client's errors."""


class VLMUnavailableError(VLMError, PlannerUnavailableError):
    """The server did not answer usefully (connection refused, timeouts, 5xx) after retries."""


class VLMRequestError(VLMError):
    """The server refused the request (HTTP 4xx other than 429) or answered in another protocol."""


class VLMInvalidOutputError(VLMError):
    """The model's answer failed validation, and so did its answer to the one reprompt."""

    def __init__(self, message: str, answers: Sequence[str], problems: Sequence[str]) -> None:
        super().__init__(message)
        self.answers = tuple(answers)  # the raw answers, first and reprompted
        self.problems = tuple(problems)  # why each one was rejected


@dataclass(frozen=True)
class VLMClientConfig:
    """Timeouts, retry policy and decoding settings of one client."""

    # A request's whole budget, every attempt and backoff included: a hung server is given up
    # after this long, not after max_attempts full read timeouts.
    budget_s: float = 60.0
    timeout_s: float = 30.0  # read timeout of one attempt; a VLM answer takes seconds
    connect_timeout_s: float = 5.0
    max_attempts: int = 4  # tries per request: 1 + 3 retries on connection errors, timeouts, 5xx
    backoff_s: float = 0.5  # wait before the first retry; doubles each retry
    backoff_max_s: float = 8.0  # cap on a single wait
    max_tokens: int = 512  # an EventState is about 150 tokens of JSON
    temperature: float = 0.0  # planning should be repeatable
    image_format: Literal["png", "jpeg"] = "png"  # PNG is lossless; JPEG is smaller on the wire
    jpeg_quality: int = 90
    structured_output: bool = True  # send response_format json_schema

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ContractError(f"max_attempts is {self.max_attempts}; expected >= 1")
        if self.budget_s <= 0 or self.timeout_s <= 0 or self.connect_timeout_s <= 0:
            raise ContractError("timeouts must be positive seconds")

    @classmethod
    def from_settings(cls, settings: VLMSettings) -> VLMClientConfig:
        """The defaults, with the budget and retries a user set (flags or environment)."""
        config = cls()
        if settings.timeout_s is not None:
            config = dataclasses.replace(config, budget_s=settings.timeout_s)
        if settings.retries is not None:
            config = dataclasses.replace(config, max_attempts=settings.retries + 1)
        return config

    def backoff(self, retry: int) -> float:
        """Seconds to wait before retry number `retry` (1-based)."""
        return min(self.backoff_s * 2 ** (retry - 1), self.backoff_max_s)


@dataclass(frozen=True)
class Completion:
    """One answer of the server, with what it cost."""

    text: str
    prompt_tokens: int | None  # as the server counts them (images included), if it reports usage
    completion_tokens: int | None
    seconds: float  # wall time of the whole call, retries and backoff included
    attempts: int  # HTTP requests sent: 1 unless transport faults or 5xx were retried


def encode_image(
    image: np.ndarray, image_format: Literal["png", "jpeg"] = "png", jpeg_quality: int = 90
) -> str:
    """A uint8 (H, W, 3) RGB image as a `data:image/...;base64,` URL."""
    from PIL import Image

    array = np.asarray(image)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[-1] != 3:
        raise ContractError(
            f"image has shape {array.shape} and dtype {array.dtype}; expected uint8 (H, W, 3)"
        )
    buffer = io.BytesIO()
    if image_format == "png":
        Image.fromarray(array).save(buffer, format="PNG")
    else:
        Image.fromarray(array).save(buffer, format="JPEG", quality=jpeg_quality)
    return f"data:image/{image_format};base64," + base64.b64encode(buffer.getvalue()).decode()


def image_content(
    images: Mapping[str, np.ndarray],
    order: Sequence[str] | None = None,
    image_format: Literal["png", "jpeg"] = "png",
    jpeg_quality: int = 90,
) -> list[Message]:
    """Content parts for one image per camera, each preceded by its label ("camera front:")."""
    parts: list[Message] = []
    for name in order or list(images):
        url = encode_image(images[name], image_format, jpeg_quality)
        parts.append({"type": "text", "text": f"camera {name}:"})
        parts.append({"type": "image_url", "image_url": {"url": url}})
    return parts


_FENCE = re.compile(r"^```[A-Za-z0-9_-]*\s*\n?(.*?)\n?```\s*$", re.DOTALL)


def parse_json_object(text: str) -> dict[str, Any]:
    """The JSON object in a model's answer: code fences and prose around it are tolerated."""
    stripped = text.strip()
    fenced = _FENCE.match(stripped)
    if fenced:
        stripped = fenced.group(1).strip()
    start = stripped.find("{")
    if start < 0:
        raise ValueError(f"the answer contains no JSON object: {_quote(text)}")
    try:
        # strict=False: raw control characters inside strings (which some constrained decoders
        # let through) are tolerated; they cannot change the structure.
        value, _ = json.JSONDecoder(strict=False).raw_decode(stripped, start)
    except json.JSONDecodeError as exc:
        raise ValueError(f"the answer is not valid JSON ({exc.msg}): {_quote(text)}") from None
    if not isinstance(value, dict):
        raise ValueError(f"the answer is JSON but not an object: {_quote(text)}")
    return value


def _quote(text: str) -> str:
    return repr(text if len(text) <= _QUOTE_CHARS else text[:_QUOTE_CHARS] + "...")


class VLMClient:
    """Chat completions against one OpenAI-compatible server (see the module docstring)."""

    def __init__(
        self,
        settings: VLMSettings,
        config: VLMClientConfig | None = None,
        prompts: PromptLibrary | None = None,
        observer: Callable[[Message], None] | None = None,
    ) -> None:
        """`observer`, if given, sees the body of every completion request before it is sent
        (once per request, however often transport faults make it retry), e.g. to record it."""
        if not settings.url:
            raise VLMUnavailableError(
                "no VLM URL configured: pass --vlm-url or set WALLWM_VLM_URL "
                "(e.g. http://127.0.0.1:8000/v1), or run without one to use the embedded planner"
            )
        self.settings = settings
        self.config = config or VLMClientConfig.from_settings(settings)
        self.prompts = prompts or PromptLibrary()
        self.observer = observer
        headers = {"Authorization": f"Bearer {settings.api_key}"} if settings.api_key else {}
        timeout = httpx.Timeout(self.config.timeout_s, connect=self.config.connect_timeout_s)
        self._http = httpx.Client(base_url=settings.url, headers=headers, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> VLMClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _body(self, messages: Sequence[Message], response_format: Message | None) -> Message:
        body: Message = {
            "messages": list(messages),
            "max_tokens": self.config.max_tokens,
            "temperature": self.config.temperature,
        }
        if self.settings.model:
            body["model"] = self.settings.model
        if response_format is not None:
            body["response_format"] = response_format
        return body

    def complete(
        self, messages: Sequence[Message], response_format: Message | None = None
    ) -> Completion:
        """The assistant's answer to `messages`, retrying transport faults, 429 and 5xx."""
        body = self._body(messages, response_format)
        if self.observer is not None:
            self.observer(body)
        started = time.monotonic()
        last_error = ""
        attempt = 0
        while attempt < self.config.max_attempts:
            if attempt > 0:
                wait = self.config.backoff(attempt)
                if self._remaining(started) <= wait:
                    break  # no time left for another attempt within the budget
                logger.warning(
                    "VLM attempt %d failed (%s); retrying in %.2f s", attempt, last_error, wait
                )
                time.sleep(wait)
            attempt += 1
            remaining = self._remaining(started)
            timeout = httpx.Timeout(
                min(self.config.timeout_s, remaining),
                connect=min(self.config.connect_timeout_s, remaining),
            )
            try:
                response = self._http.post("/chat/completions", json=body, timeout=timeout)
            except httpx.TransportError as exc:
                last_error = f"{type(exc).__name__}: {exc}"
                continue
            if response.status_code == 429 or response.status_code >= 500:
                last_error = f"HTTP {response.status_code}: {_quote(response.text)}"
                continue
            if response.status_code >= 400:
                raise VLMRequestError(self._refusal(response, body))
            text, usage = self._content(response)
            return Completion(
                text=text,
                prompt_tokens=usage.get("prompt_tokens"),
                completion_tokens=usage.get("completion_tokens"),
                seconds=time.monotonic() - started,
                attempts=attempt,
            )
        elapsed = time.monotonic() - started
        raise VLMUnavailableError(
            f"the VLM at {self.settings.url} did not answer: {attempt} attempt(s) over "
            f"{elapsed:.1f} s of a {self.config.budget_s:g} s budget per request (last error: "
            f"{last_error}); {_SERVER_ADVICE}; give a slow server more time with "
            "--vlm-timeout / WALLWM_VLM_TIMEOUT"
        )

    def _remaining(self, started: float) -> float:
        return self.config.budget_s - (time.monotonic() - started)

    def complete_json(
        self,
        messages: Sequence[Message],
        schema_name: str,
        schema: Mapping[str, Any],
        validate: Callable[[dict[str, Any]], T],
        schema_hint: str | None = None,
    ) -> T:
        """Ask for JSON matching `schema` and return `validate(parsed)`.

        `validate` raises ValueError (pydantic's ValidationError is one) for an answer it rejects;
        the answer and the error are then sent back once with prompts/reprompt.md, which shows
        `schema_hint` (default: `schema` as compact JSON).
        """
        response_format = None
        if self.config.structured_output:
            response_format = {
                "type": "json_schema",
                "json_schema": {"name": schema_name, "schema": dict(schema)},
            }
        conversation = list(messages)
        answers: list[str] = []
        problems: list[str] = []
        for round_ in range(2):
            answer = self.complete(conversation, response_format).text
            answers.append(answer)
            try:
                return validate(parse_json_object(answer))
            except ValueError as exc:
                problems.append(str(exc))
            if round_ == 0:
                hint = schema_hint or json.dumps(schema, separators=(",", ":"))
                reprompt = self.prompts.render("reprompt", error=problems[-1], schema=hint)
                conversation = [
                    *messages,
                    {"role": "assistant", "content": answer[: 4 * _QUOTE_CHARS]},
                    {"role": "user", "content": reprompt},
                ]
        model = self.settings.model or "the served model"
        raise VLMInvalidOutputError(
            f"{model} at {self.settings.url} answered twice with output that is not a valid "
            f"{schema_name} (last problem: {problems[-1]}); serve a model that follows JSON "
            "instructions with structured outputs (vLLM honours response_format json_schema), "
            "or run without a VLM URL to use the embedded planner",
            answers,
            problems,
        )

    def _content(self, response: httpx.Response) -> tuple[str, dict[str, Any]]:
        try:
            payload = response.json()
            message = payload["choices"][0]["message"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise VLMRequestError(
                f"{self.settings.url}/chat/completions answered HTTP {response.status_code} "
                f"but not with an OpenAI chat completion: {_quote(response.text)}; check that "
                "--vlm-url is the server's OpenAI base URL (ending in /v1)"
            ) from None
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):  # some servers return content parts
            content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
        usage = payload.get("usage")
        return content or "", usage if isinstance(usage, dict) else {}

    def _refusal(self, response: httpx.Response, body: Message) -> str:
        images = sum(
            1
            for message in body["messages"]
            if isinstance(message.get("content"), list)
            for part in message["content"]
            if part.get("type") == "image_url"
        )
        return (
            f"the VLM at {self.settings.url} refused the request with HTTP "
            f"{response.status_code}: {_quote(response.text)}; check --vlm-model / "
            f"WALLWM_VLM_MODEL against the served model, and that the server accepts {images} "
            f"image(s) per request (vLLM: --limit-mm-per-prompt '{{\"image\": {images}}}')"
        )
