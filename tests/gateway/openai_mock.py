"""A fake OpenAI-compatible upstream on raw asyncio sockets, in a thread of its own.

It speaks the real wire format (JSON, SSE chunks, usage, OpenAI error bodies) and misbehaves on
demand. The upstream model name picks the behaviour::

    ok (or anything else)   answers; streams 5 chunks and [DONE]; asked for usage
                            (``stream_options.include_usage``), as OpenAI does: a usage chunk
                            (``choices: []``) before [DONE] and ``"usage": null`` in the others
    splitusage              streams like ok, the usage chunk cut in two writes (two reads)
    nousage                 streams like ok, never with usage (ignores stream_options)
    slow-<ms>               waits before answering
    hang                    never answers
    reset                   drops the connection before answering (RST)
    garbage                 answers bytes that are not HTTP
    badjson                 200 with a body that is not JSON
    status-<code>           answers that status with an OpenAI error body
    flaky-<n>               500 for its first n requests, then answers
    starting-<n>            503 with no JSON body for its first n requests (as a mesh proxy
                            with no endpoint answers), then answers
    break                   streams 2 chunks, then drops the connection
    stall                   streams 1 chunk, then goes silent
    endless                 streams a chunk every 20 ms until the client leaves
    flood                   streams 64 KiB events as fast as it can until the client leaves
    interim                 sends "100 Continue" before its answer
    closedelim              answers with neither Content-Length nor chunking, then closes
    nullusage               answers with "usage": {"prompt_tokens": null, ...}
"""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class MockUpstream:
    port: int = 0
    requests: list[Seen] = field(default_factory=list)
    open_connections: int = 0
    cancelled_streams: int = 0
    counters: dict[str, int] = field(default_factory=dict)
    loop: asyncio.AbstractEventLoop | None = None
    scheme: str = "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/v1"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open_connections += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                seen = Seen(method, path, headers, body)
                self.requests.append(seen)
                if not await self.answer(seen, writer):
                    return
        finally:
            self.open_connections -= 1
            writer.close()

    async def answer(self, seen: Seen, writer: asyncio.StreamWriter) -> bool:
        try:
            req = seen.json
        except ValueError:
            req = {}
        model = str(req.get("model", "ok"))
        if seen.path.startswith("/openai/deployments/"):
            model = seen.path.split("/")[3]
        if model.startswith("slow-"):
            await asyncio.sleep(int(model[5:]) / 1000)
        elif model == "hang":
            await asyncio.sleep(3600)
        elif model == "reset":
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return False
        elif model == "garbage":
            writer.write(b"SURPRISE this is not HTTP\r\n\r\n")
            await writer.drain()
            return False
        elif model == "badjson":
            return await self._send(writer, 200, b"{not json", "application/json")
        elif model.startswith("status-"):
            code = int(model[7:])
            if code == 204:
                writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
                await writer.drain()
                return True
            return await self._send(writer, code, _error(f"mock status {code}"), "application/json")
        elif model == "interim":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            await writer.drain()
            await asyncio.sleep(0.01)
        elif model == "closedelim":
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n")
            writer.write(json.dumps(_completion(model)).encode())
            await writer.drain()
            return False
        elif model == "nullusage":
            body = _completion(model)
            body["usage"] = {"prompt_tokens": None, "completion_tokens": 2.0}
            return await self._send(writer, 200, json.dumps(body).encode(), "application/json")
        elif model.startswith("starting-"):
            n = self.counters[model] = self.counters.get(model, 0) + 1
            if n <= int(model[9:]):
                return await self._send(writer, 503, b"no healthy upstream", "text/plain")
        elif model.startswith("flaky-"):
            n = self.counters[model] = self.counters.get(model, 0) + 1
            if n <= int(model[6:]):
                return await self._send(writer, 500, _error("flaky"), "application/json")
        if seen.path.endswith("/embeddings"):
            body = {
                "object": "list",
                "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2, 0.3]}],
                "model": model,
                "usage": {"prompt_tokens": 3, "total_tokens": 3},
            }
            return await self._send(writer, 200, json.dumps(body).encode(), "application/json")
        if seen.path.endswith("/completions") and not seen.path.endswith("chat/completions"):
            body = {
                "id": "cmpl-1",
                "object": "text_completion",
                "created": 1,
                "model": model,
                "choices": [
                    {"index": 0, "text": "done", "finish_reason": "stop", "logprobs": None}
                ],
                "usage": {"prompt_tokens": 2, "completion_tokens": 1, "total_tokens": 3},
            }
            return await self._send(writer, 200, json.dumps(body).encode(), "application/json")
        if req.get("stream"):
            return await self._stream(writer, model, req)
        body = _completion(model)
        return await self._send(writer, 200, json.dumps(body).encode(), "application/json")

    async def _send(
        self, writer: asyncio.StreamWriter, status: int, body: bytes, ctype: str
    ) -> bool:
        writer.write(
            f"HTTP/1.1 {status} X\r\ncontent-type: {ctype}\r\ncontent-length: {len(body)}\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        return True

    async def _stream(self, writer: asyncio.StreamWriter, model: str, req: dict[str, Any]) -> bool:
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
        )

        def chunk(data: bytes) -> None:
            writer.write(b"%x\r\n%s\r\n" % (len(data), data))

        include_usage = bool((req.get("stream_options") or {}).get("include_usage"))
        include_usage = include_usage and model != "nousage"

        def event(content: str | None, finish: str | None = None) -> bytes:
            delta = {"content": content} if content is not None else {}
            payload: dict[str, Any] = {
                "id": "chatcmpl-1",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            if include_usage:
                payload["usage"] = None
            return b"data: " + json.dumps(payload).encode() + b"\n\n"

        count = {"break": 2, "stall": 1}.get(model, 5)
        i = 0
        try:
            while model in ("endless", "flood") or i < count:
                chunk(event(("x" * 65536) if model == "flood" else f"tok{i} "))
                await writer.drain()
                await asyncio.sleep(
                    0 if model == "flood" else 0.02 if model == "endless" else 0.001
                )
                i += 1
        except ConnectionError:
            self.cancelled_streams += 1
            return False
        if model == "break":
            writer.transport.abort()
            return False
        if model == "stall":
            await asyncio.sleep(3600)
        chunk(event(None, "stop"))
        if include_usage:
            usage = {
                "id": "chatcmpl-1",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": model,
                "choices": [],
                "usage": {
                    "prompt_tokens": 5,
                    "completion_tokens": count,
                    "total_tokens": 5 + count,
                },
            }
            data = b"data: " + json.dumps(usage).encode() + b"\n\n"
            if model == "splitusage":
                chunk(data[:40])
                await writer.drain()
                await asyncio.sleep(0.05)
                data = data[40:]
            chunk(data)
        chunk(b"data: [DONE]\n\n")
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True


def _completion(model: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": f"hello from {model}"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
    }


def _error(message: str) -> bytes:
    return json.dumps(
        {"error": {"message": message, "type": "server_error", "param": None, "code": None}}
    ).encode()


@contextmanager
def openai_upstream(tls: ssl.SSLContext | None = None, port: int = 0) -> Iterator[MockUpstream]:
    """The mock, serving on ``port`` (0: any free port) until the block ends."""
    mock = MockUpstream()
    mock.scheme = "https" if tls else "http"
    ready = threading.Event()
    stop: asyncio.Event | None = None

    def run() -> None:
        nonlocal stop

        async def main() -> None:
            nonlocal stop
            stop = asyncio.Event()
            mock.loop = asyncio.get_running_loop()
            server = await asyncio.start_server(mock.handle, "127.0.0.1", port, ssl=tls)
            mock.port = server.sockets[0].getsockname()[1]
            ready.set()
            await stop.wait()
            server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run(main())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    ready.wait(5)
    try:
        yield mock
    finally:
        assert mock.loop is not None and stop is not None
        mock.loop.call_soon_threadsafe(stop.set)
        thread.join(5)


def wait_for(check: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)
