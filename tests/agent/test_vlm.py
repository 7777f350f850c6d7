"""The VLM client's documented behaviour on faults: bounded retries, one reprompt, typed errors.

Faults that a real server cannot be made to produce on demand (HTTP 500, a hang, a chosen answer
sequence) come from the scripted http.server of conftest.py; connection refused is a real closed
port. The real-server path is in test_vlm_server.py.
"""

import base64
import io
import json
import socket
import time

import numpy as np
import pytest
from PIL import Image

from agent.planning.vlm_client import (
    VLMClient,
    VLMClientConfig,
    VLMInvalidOutputError,
    VLMRequestError,
    VLMUnavailableError,
    encode_image,
    image_content,
    parse_json_object,
)
from agent.planning.vlm_settings import SettingsError, VLMSettings
from tests.agent.vlm_servers import Reply

FAST = VLMClientConfig(timeout_s=0.3, connect_timeout_s=0.3, max_attempts=3, backoff_s=0.05)
SCHEMA = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
ASK = [{"role": "user", "content": "give n"}]


def positive_n(data: dict) -> int:
    if not isinstance(data.get("n"), int) or data["n"] <= 0:
        raise ValueError(f"n must be a positive integer, got {data.get('n')!r}")
    return data["n"]


def client_for(url: str, config: VLMClientConfig = FAST) -> VLMClient:
    return VLMClient(VLMSettings(url=url, model="tiny", api_key="secret"), config)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"n": 1}', {"n": 1}),
        ('```json\n{"n": 2}\n```', {"n": 2}),
        ('Sure! Here it is: {"n": 3} Hope this helps.', {"n": 3}),
        ('```\n{"a": {"b": [1, 2]}}\n```', {"a": {"b": [1, 2]}}),
    ],
)
def test_json_is_found_in_fences_and_prose(text, expected):
    assert parse_json_object(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("no json here", "contains no JSON object"),
        ('{"n": 1', "is not valid JSON"),
        ("[1, 2]", "contains no JSON object"),
    ],
)
def test_bad_json_is_a_value_error_quoting_the_answer(text, message):
    with pytest.raises(ValueError, match=message):
        parse_json_object(text)


def test_images_are_lossless_png_data_urls_labelled_by_camera():
    rng = np.random.default_rng(1)
    images = {name: rng.integers(0, 256, (16, 24, 3), dtype=np.uint8) for name in ("side", "front")}
    parts = image_content(images, order=["front", "side"])
    assert [p["type"] for p in parts] == ["text", "image_url", "text", "image_url"]
    assert [parts[0]["text"], parts[2]["text"]] == ["camera front:", "camera side:"]
    prefix, payload = parts[1]["image_url"]["url"].split(",", 1)
    assert prefix == "data:image/png;base64"
    decoded = np.asarray(Image.open(io.BytesIO(base64.b64decode(payload))))
    np.testing.assert_array_equal(decoded, images["front"])
    assert encode_image(images["side"], "jpeg").startswith("data:image/jpeg;base64,")
    with pytest.raises(ValueError, match=r"expected uint8 \(H, W, 3\)"):
        encode_image(np.zeros((4, 4), np.uint8))


def test_no_url_is_a_typed_error_with_advice():
    with pytest.raises(VLMUnavailableError, match="WALLWM_VLM_URL"):
        VLMClient(VLMSettings(url=None, model=None, api_key=None))


def test_connection_refused_is_retried_then_unavailable():
    url = f"http://127.0.0.1:{closed_port()}/v1"
    started = time.monotonic()
    with pytest.raises(VLMUnavailableError) as info, client_for(url) as client:
        client.complete(ASK)
    elapsed = time.monotonic() - started
    assert elapsed >= FAST.backoff(1) + FAST.backoff(2)  # waited 0.05 s, then 0.1 s
    message = str(info.value)
    assert f"the VLM at {url} did not answer: 3 attempt(s)" in message
    assert "ConnectError" in message and "vllm serve" in message


def test_http_500_is_retried_a_bounded_number_of_times(scripted_server):
    server = scripted_server([Reply(500, '{"error": "engine dead"}')])
    with (
        pytest.raises(VLMUnavailableError, match=r"HTTP 500.*engine dead"),
        client_for(server.url) as client,
    ):
        client.complete(ASK)
    assert len(server.requests) == FAST.max_attempts


def test_a_transient_500_recovers(scripted_server):
    server = scripted_server([Reply(503), Reply(500), Reply.chat('{"n": 4}')])
    with client_for(server.url) as client:
        completion = client.complete(ASK)
    assert (completion.text, completion.attempts, completion.prompt_tokens) == ('{"n": 4}', 3, 10)
    assert len(server.requests) == 3


def test_a_hang_times_out_then_unavailable(scripted_server):
    server = scripted_server([Reply(200, "{}", delay_s=1.0)])
    with pytest.raises(VLMUnavailableError, match="ReadTimeout"), client_for(server.url) as client:
        client.complete(ASK)
    assert len(server.requests) == FAST.max_attempts


def test_a_hung_server_is_given_up_when_the_request_budget_is_spent(scripted_server):
    server = scripted_server([Reply(200, "{}", delay_s=5.0)])
    config = VLMClientConfig(budget_s=1.0, timeout_s=30.0, max_attempts=4, backoff_s=0.05)
    started = time.monotonic()
    with pytest.raises(VLMUnavailableError) as info, client_for(server.url, config) as client:
        client.complete(ASK)
    assert 0.9 <= time.monotonic() - started < 2.0  # the budget, not 4 x 30 s of read timeouts
    assert len(server.requests) == 1  # no time was left for a second attempt
    assert "of a 1 s budget per request" in str(info.value)
    assert "--vlm-timeout" in str(info.value)


def test_the_default_budget_gives_up_on_a_hung_server_within_a_minute():
    assert VLMClientConfig().budget_s <= 60.0


def test_budget_and_retries_come_from_flags_or_the_environment(monkeypatch):
    monkeypatch.setenv("WALLWM_VLM_TIMEOUT", "12.5")
    monkeypatch.setenv("WALLWM_VLM_RETRIES", "0")
    settings = VLMSettings.resolve("http://127.0.0.1:1/v1")
    config = VLMClientConfig.from_settings(settings)
    assert (config.budget_s, config.max_attempts) == (12.5, 1)
    flags = VLMSettings.resolve("http://127.0.0.1:1/v1", timeout_s=30.0, retries=2)
    assert (flags.timeout_s, flags.retries) == (30.0, 2)  # flags win over the environment
    monkeypatch.setenv("WALLWM_VLM_TIMEOUT", "soon")
    with pytest.raises(SettingsError, match="WALLWM_VLM_TIMEOUT is 'soon'; expected seconds"):
        VLMSettings.resolve("http://127.0.0.1:1/v1")


def test_a_4xx_is_not_retried_and_says_what_to_check(scripted_server):
    server = scripted_server([Reply(400, '{"error": "At most 1 image(s) may be provided"}')])
    with pytest.raises(VLMRequestError) as info, client_for(server.url) as client:
        client.complete(
            [{"role": "user", "content": image_content({"a": np.zeros((4, 4, 3), np.uint8)})}]
        )
    assert len(server.requests) == 1
    assert "HTTP 400" in str(info.value) and "--limit-mm-per-prompt" in str(info.value)


def test_a_non_openai_answer_is_a_request_error(scripted_server):
    server = scripted_server([Reply(200, "<html>hello</html>")])
    with (
        pytest.raises(VLMRequestError, match="ending in /v1"),
        client_for(server.url) as client,
    ):
        client.complete(ASK)


def test_request_carries_model_key_schema_and_decoding_settings(scripted_server):
    server = scripted_server([Reply.chat('{"n": 7}')])
    seen = []
    with client_for(server.url) as client:
        client.observer = seen.append
        assert client.complete_json(ASK, "n_answer", SCHEMA, positive_n) == 7
    body = server.requests[0]
    assert seen == [body]
    assert body["model"] == "tiny" and body["temperature"] == 0.0 and body["max_tokens"] == 512
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "n_answer", "schema": SCHEMA},
    }


def test_invalid_output_is_reprompted_once_with_the_error(scripted_server):
    server = scripted_server([Reply.chat('```json\n{"n": -1}\n```'), Reply.chat('{"n": 5}')])
    with client_for(server.url) as client:
        assert client.complete_json(ASK, "n_answer", SCHEMA, positive_n) == 5
    assert len(server.requests) == 2
    reprompt = server.requests[1]["messages"]
    assert reprompt[:1] == ASK
    assert reprompt[1] == {"role": "assistant", "content": '```json\n{"n": -1}\n```'}
    assert "n must be a positive integer, got -1" in reprompt[2]["content"]
    assert json.dumps(SCHEMA, separators=(",", ":")) in reprompt[2]["content"]


def test_invalid_output_twice_is_a_typed_error(scripted_server):
    server = scripted_server([Reply.chat("I think n is five."), Reply.chat('{"n": 0}')])
    with pytest.raises(VLMInvalidOutputError) as info, client_for(server.url) as client:
        client.complete_json(ASK, "n_answer", SCHEMA, positive_n)
    error = info.value
    assert len(server.requests) == 2
    assert error.answers == ("I think n is five.", '{"n": 0}')
    assert "contains no JSON object" in error.problems[0]
    assert "got 0" in error.problems[1]
    assert "answered twice with output that is not a valid n_answer" in str(error)
    assert "embedded planner" in str(error)
