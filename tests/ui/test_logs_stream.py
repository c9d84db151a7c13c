"""Live logs: the page, the Server-Sent Events stream (only new lines, a clear end when the agent
cannot answer or the client leaves) and who may follow it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ironplane.server.agents.hub import AgentNotConnected
from ironplane.ui import sse
from ironplane.ui.pages import logs
from ironplane.wire import agent_protocol as proto
from tests.server.conftest import Server
from tests.ui.agent_fakes import WEB, fake_hub, ok, platform, sign_in, user
from tests.ui.conftest import signed_in

pytestmark = pytest.mark.anyio


def events(body: str) -> list[tuple[str, Any]]:
    """(event name, decoded data) of each SSE message; comments and ``retry`` are skipped."""
    out = []
    for block in body.split("\n\n"):
        name, data = "message", None
        for line in block.splitlines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data = json.loads(line[6:])
        if data is not None:
            out.append((name, data))
    return out


def test_new_lines_are_what_follows_the_overlap() -> None:
    assert sse.new_lines([], ["a", "b"]) == ["a", "b"]
    assert sse.new_lines(["a", "b", "c"], ["b", "c", "d", "e"]) == ["d", "e"]
    assert sse.new_lines(["a", "b"], ["a", "b"]) == []
    assert sse.new_lines(["a", "b"], []) == []
    # repeated lines: the longest overlap wins, so a repeated line is not taken as new
    assert sse.new_lines(["x", "x", "y", "x"], ["x", "y", "x", "z"]) == ["z"]
    assert sse.new_lines(["x", "x"], ["x", "x", "x"]) == ["x"]
    # no overlap (more new lines than one answer holds): everything is new
    assert sse.new_lines(["a", "b"], ["c", "d"]) == ["c", "d"]


async def test_follow_sends_only_new_lines_and_stops_when_the_client_leaves() -> None:
    answers = [["a", "b"], ["a", "b"], ["b", "c"], ["c", "d"]]
    polls = 0

    async def fetch() -> list[str]:
        nonlocal polls
        polls += 1
        return answers[min(polls, len(answers)) - 1]

    async def gone() -> bool:
        return polls >= 4

    body = "".join([m async for m in sse.follow(fetch, gone, interval_s=0, max_polls=100)])
    assert body.startswith("retry: ")
    assert events(body) == [("lines", ["a", "b"]), ("lines", ["c"]), ("lines", ["d"])]
    assert ": nothing new" in body
    assert polls == 4, "no poll after the client left"


async def test_follow_ends_after_max_polls() -> None:
    async def fetch() -> list[str]:
        return ["same"]

    async def here() -> bool:
        return False

    body = "".join([m async for m in sse.follow(fetch, here, interval_s=0, max_polls=3)])
    assert events(body) == [("lines", ["same"]), ("end", {"message": "reconnecting"})]


async def test_the_stream_route_follows_the_agents_answers(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    await platform(server, WEB.format(tag=1))
    monkeypatch.setattr(logs, "POLL_S", 0)
    answers = [["boot", "listening on :8080"], ["listening on :8080", "GET / 200"]]

    async def answer(call: dict[str, Any]) -> proto.CommandResult:
        if answers:
            return ok(answers.pop(0))
        raise AgentNotConnected("the agent of cluster 'oke-prod' is not connected")

    calls = fake_hub(monkeypatch, server, answer)
    client = await signed_in(server)
    r = await client.get("/ui/apps/prod/web/logs/stream?lines=50")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    assert events(r.text) == [
        ("lines", ["boot", "listening on :8080"]),
        ("lines", ["GET / 200"]),
        (
            "problem",
            {"code": "unavailable", "message": "the agent of cluster 'oke-prod' is not connected"},
        ),
    ]
    assert {(c["op"], c["workspace"], c["app"], c["lines"]) for c in calls} == {
        ("logs", "prod", "web", 50)
    }


async def test_the_page_and_a_missing_agent(server: Server) -> None:
    await platform(server, WEB.format(tag=1))
    client = await signed_in(server)
    r = await client.get("/ui/apps/prod/web/logs")
    assert r.status_code == 200
    assert 'data-log-stream="/ui/apps/prod/web/logs/stream?lines=200"' in r.text
    assert '<pre class="log" tabindex="0" aria-live="polite"' in r.text
    assert '<script src="/ui/static/logs.js" defer></script>' in r.text
    assert "The agent of cluster oke-prod is not connected" in r.text
    # the real hub, no agent: the stream says so at once and ends
    r = await client.get("/ui/apps/prod/web/logs/stream")
    ((name, data),) = events(r.text)
    assert name == "problem" and "is not connected" in data["message"]
    assert (await client.get("/ui/static/logs.js")).status_code == 200


async def test_followers_need_apps_read_on_the_workspace(server: Server) -> None:
    await platform(server, WEB.format(tag=1))
    await user(server, "lena", "viewer", ("workspace", "lab"))
    outsider = await sign_in(server, "lena")
    assert (await outsider.get("/ui/apps/prod/web/logs")).status_code == 404
    assert (await outsider.get("/ui/apps/prod/web/logs/stream")).status_code == 404
    await user(server, "paul", "viewer", ("workspace", "prod"))
    viewer = await sign_in(server, "paul")
    assert (await viewer.get("/ui/apps/prod/web/logs")).status_code == 200
    assert (await viewer.get("/ui/apps/prod/nope/logs/stream")).status_code == 404
