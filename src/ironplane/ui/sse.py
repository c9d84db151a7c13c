"""Following a log as Server-Sent Events: ask for the last lines every few seconds and send only
the lines not sent yet.

An agent answers with the last N lines of an app's log, not with a cursor, so new lines are
found by overlap: the longest tail of the previous answer that starts the new one is what was
already sent; whatever follows it is new. (More than N lines between two polls leaves no
overlap: then the whole answer is sent, and lines beyond N are missed, as ``tail`` would.)
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

from ironplane.core.errors import IronplaneError


def new_lines(previous: Sequence[str], current: Sequence[str]) -> list[str]:
    """The lines of ``current`` that come after what ``previous`` already held."""
    if not previous:
        return list(current)
    if not current:
        return []
    n = len(previous)
    for k in range(min(n, len(current)), 0, -1):
        # Only where the new answer's first line sits k lines from the end is a check needed.
        if previous[n - k] == current[0] and list(previous[n - k :]) == list(current[:k]):
            return list(current[k:])
    return list(current)


def event(data: object, name: str | None = None) -> str:
    """One SSE message; the data is JSON (one line, whatever the log lines hold)."""
    head = f"event: {name}\n" if name else ""
    return f"{head}data: {json.dumps(data, ensure_ascii=False)}\n\n"


async def follow(
    fetch: Callable[[], Awaitable[list[str]]],
    disconnected: Callable[[], Awaitable[bool]],
    *,
    interval_s: float,
    max_polls: int,
) -> AsyncIterator[str]:
    """SSE text: a ``lines`` message per poll that found new lines (a comment otherwise, which
    also notices a gone client), a ``problem`` event when the agent cannot answer, and an
    ``end`` event after ``max_polls`` polls (the browser reconnects, and the page checks the
    session again)."""
    yield "retry: 3000\n\n"
    seen: list[str] = []
    for poll in range(max_polls):
        if poll and await disconnected():
            return
        try:
            lines = await fetch()
        except IronplaneError as exc:
            yield event({"code": exc.code, "message": exc.message}, "problem")
            return
        fresh = new_lines(seen, lines)
        seen = lines
        yield event(fresh, "lines") if fresh else ": nothing new\n\n"
        await asyncio.sleep(interval_s)
    yield event({"message": "reconnecting"}, "end")
