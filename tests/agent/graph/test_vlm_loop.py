"""The VLM planner in the loop: a real `transformers serve` whose random model answers garbage
stops the run with VLMInvalidOutputError after one reprompt; a server that goes down stops it
with VLMUnavailableError after bounded retries when recovery is off (the thread intact and
resumable) and hands the rest of the run to the embedded planner when it is on."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from typing import Any

import pytest

from agent.planning.embedded import GoalPlanner
from agent.planning.vlm import VLMPlanner
from agent.planning.vlm_client import (
    VLMClient,
    VLMClientConfig,
    VLMInvalidOutputError,
    VLMUnavailableError,
)
from agent.planning.vlm_settings import VLMSettings
from agent.state import EventState
from tests.agent.graph.conftest import task_spec
from tests.agent.vlm_servers import Reply, ScriptedServer, free_port


def embedded_planner(session) -> GoalPlanner:
    """The embedded planner, planning the goal the session read."""
    planner = GoalPlanner(session.runner.context.skills)
    planner.goal = session.goal
    return planner


def resume_with_embedded_planner(sessions, spec) -> dict[str, Any]:
    """Continue the thread in a new session; the planner is swapped for the embedded one (the
    served model here can never plan), which is enough to show the thread continues cleanly."""
    session = sessions(spec)
    session.runner.context.planner = embedded_planner(session)
    session.runner.restore_robot(spec.seed)
    return session.runner.run(spec.instruction, False, None)


def recorded_keys(session) -> list[str]:
    path = session.runner.context.store.root / "events.jsonl"
    if not path.exists():
        return []
    return [json.loads(line)["key"] for line in path.read_text().splitlines()]


class HandOverAfter:
    """Plans the first n events with the embedded planner, then hands planning to the VLM
    planner (so the served model's garbage arrives mid-task, with events already recorded)."""

    def __init__(self, context, vlm_planner, verified: int) -> None:
        self.context, self.vlm_planner, self.verified, self.seen = context, vlm_planner, verified, 0

    def event(self, kind: str, **fields: Any) -> None:
        if kind == "verify":
            self.seen += 1
            if self.seen == self.verified:
                self.context.planner = self.vlm_planner


@pytest.mark.slow  # the shared `transformers serve` fixture takes 10-17 s to start
def test_garbage_from_a_real_server_stops_after_one_reprompt(sessions, tiny_vlm_server):
    spec = task_spec(
        "push_then_bowl",
        planner="vlm",
        vlm_url=tiny_vlm_server.url,
        vlm_model=tiny_vlm_server.model,
    )
    session = sessions(spec)
    runner = session.runner
    context = runner.context
    vlm_planner = context.planner
    context.reporter = HandOverAfter(context, vlm_planner, verified=2)
    context.planner = embedded_planner(session)
    runner.restore_robot(spec.seed)
    with pytest.raises(VLMInvalidOutputError) as error:
        runner.run(spec.instruction, False, None)
    assert len(error.value.answers) == 2 and len(error.value.problems) == 2  # one reprompt
    assert "embedded planner" in str(error.value)  # says what to do instead
    snapshot = runner.graph.get_state(runner.config)
    assert snapshot.next == ("plan",)  # the failed node re-runs on resume
    assert snapshot.values["instruction"] == spec.instruction
    assert snapshot.values["executions"] == recorded_keys(session) == ["e000-x000", "e001-x001"]
    assert [h["ok"] for h in snapshot.values["history"]] == [True, True]
    session.close()

    final = resume_with_embedded_planner(sessions, spec)
    assert final["status"] == "success" and len(final["executions"]) == 7
    keys = recorded_keys(sessions(spec))
    assert keys[:2] == ["e000-x000", "e001-x001"] and len(set(keys)) == len(keys) == 7


def event(skill: str, caption: str, **arguments: str) -> str:
    return EventState(
        next_event=caption,
        skill=skill,
        arguments=arguments,
        frames=30,
        progress=10,
        decision="continue",
    ).model_dump_json()


class StopServerAfter:
    """Takes the server down after its n-th verified event (the server process 'dies'); keeps
    the kinds of events reported."""

    def __init__(self, server: ScriptedServer, verified: int) -> None:
        self.server, self.verified, self.seen = server, verified, 0
        self.reported: list[tuple[str, dict[str, Any]]] = []

    def event(self, kind: str, **fields: Any) -> None:
        self.reported.append((kind, fields))
        if kind == "verify":
            self.seen += 1
            if self.seen == self.verified:
                self.server.stop()


def two_events_then_down(scripted_server) -> ScriptedServer:
    return scripted_server(
        [
            Reply.chat(
                event(
                    "push",
                    "push the yellow block toward the plate",
                    object="yellow_block",
                    target="plate",
                )
            ),
            Reply.chat(event("reach", "reach the red block", object="red_block")),
        ]
    )


def test_server_down_stops_after_bounded_retries_and_the_thread_resumes(sessions, scripted_server):
    server = two_events_then_down(scripted_server)
    spec = task_spec("push_then_bowl", planner="vlm", vlm_url=server.url, vlm_model="scripted")
    session = sessions(spec, reporter=StopServerAfter(server, 2))
    runner = session.runner
    runner.restore_robot(spec.seed)
    started = time.monotonic()
    with pytest.raises(VLMUnavailableError) as error:
        runner.run(spec.instruction, False, None, recovery=False)
    waited = time.monotonic() - started
    assert "did not answer: 4 attempt(s)" in str(error.value)
    assert len(server.requests) == 2  # the third request never reached a server
    assert waited < 15  # 4 tries with 0.5 + 1 + 2 s of backoff, plus two events
    before = recorded_keys(session)
    assert before == ["e000-x000", "e001-x001"]
    snapshot = runner.graph.get_state(runner.config)
    assert snapshot.next == ("plan",) and len(snapshot.values["history"]) == 2
    session.close()

    final = resume_with_embedded_planner(sessions, spec)
    assert final["status"] == "success"
    keys = recorded_keys(sessions(spec))
    # The embedded planner takes over with no plan of the VLM's: it plans from the cameras, where
    # the reached red block is not yet held, so it reaches it once more (8 events, not 7).
    assert keys[:2] == before and len(keys) == len(set(keys)) == 8


def test_with_recovery_the_embedded_planner_takes_over_from_a_server_that_died(
    sessions, scripted_server
):
    server = two_events_then_down(scripted_server)
    spec = task_spec("push_then_bowl", planner="vlm", vlm_url=server.url, vlm_model="scripted")
    reporter = StopServerAfter(server, 2)
    session = sessions(spec, reporter=reporter)
    session.runner.restore_robot(spec.seed)
    final = session.runner.run(spec.instruction, False, None, recovery=True)
    assert final["status"] == "success"  # the goal read at the start holds in the scene
    down = [fields for kind, fields in reporter.reported if kind == "planner_down"]
    assert len(down) == 1 and down[0]["planner"] == "vlm" and down[0]["fallback"] == "embedded"
    assert "did not answer: 4 attempt(s)" in down[0]["reason"]
    sources = [fields["source"] for kind, fields in reporter.reported if kind == "plan"]
    assert sources[:2] == ["vlm", "vlm"] and set(sources[2:]) <= {"embedded", "recovery"}
    assert len(server.requests) == 2


def test_a_closed_port_is_unavailable_not_a_crash(sessions):
    spec = task_spec(
        "push_then_bowl", planner="vlm", vlm_url=f"http://127.0.0.1:{free_port()}/v1", vlm_model="m"
    )
    runner = sessions(spec).runner
    runner.restore_robot(spec.seed)
    with pytest.raises(VLMUnavailableError, match="start the server"):
        runner.run(spec.instruction, False, None, recovery=False)
    assert runner.graph.get_state(runner.config).next == ("plan",)


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (Reply(500, '{"error": "boom"}'), "HTTP 500"),
        (replace(Reply.chat(event("reach", "reach", object="red_block")), delay_s=2.0), "timed"),
    ],
    ids=["http-500", "timeout"],
)
def test_http_500_and_timeouts_are_retried_then_unavailable(
    sessions, scripted_server, reply, expected
):
    server = scripted_server([reply])
    spec = task_spec("push_then_bowl", planner="vlm", vlm_url=server.url, vlm_model="scripted")
    session = sessions(spec)
    runner = session.runner
    config = VLMClientConfig(timeout_s=0.5, max_attempts=3, backoff_s=0.05)
    settings = VLMSettings(url=server.url, model="scripted", api_key=None)
    runner.context.planner = VLMPlanner(VLMClient(settings, config), runner.context.skills)
    runner.restore_robot(spec.seed)
    with pytest.raises(VLMUnavailableError, match="did not answer: 3 attempt") as error:
        runner.run(spec.instruction, False, None, recovery=False)
    assert expected in str(error.value)
    assert len(server.requests) == 3
    assert runner.graph.get_state(runner.config).next == ("plan",)
    session.close()

    final = resume_with_embedded_planner(sessions, spec)
    assert final["status"] == "success"
