#!/usr/bin/env python3
"""AI-gateway benchmark on loopback: Ironplane's gateway against nginx and LiteLLM.

The gateway under test is pinned to one core (cpu0); the load generator (wrk, with
``wrk_chat.lua``) and a fast mock OpenAI upstream (nginx + Lua, one worker) share the other
(cpu1). Every target is started once, checked (a smoke request, streamed and not), warmed up,
and then measured in ``--runs`` interleaved rounds; the medians are printed as a Markdown table
and written as JSON (``--json``). ``--profile`` records the gateway's hot path under load with
py-spy (and ``perf`` with ``--perf``) instead.

Stdlib only; Linux only (``/proc``, ``taskset``). See README.md beside this file.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import http.client
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
WRK_SCRIPT = HERE / "wrk_chat.lua"
MASTER_KEY = "sk-bench-master"
MODEL = "mock-gpt"
CHAT_PATH = "/v1/chat/completions"
N_CHUNKS = 16
REPLY_SIZE = 614
CLK_TCK = os.sysconf("SC_CLK_TCK")

ALL_TARGETS = ("direct", "nginx", "litellm", "ironplane")
VARIANTS: dict[str, dict[str, Any]] = {
    "all-on": {},
    "no-auth": {"auth": False},
    "no-limits": {"limits": False},
    "no-metrics": {"metrics": False},
    "all-off": {"auth": False, "limits": False, "metrics": False},
    "routing": {"routing_targets": 3},
    # Limits decided in Redis (a redis-server the harness starts on the load side's core)
    # against the same limits in memory; `-all` adds a team, concurrency caps, prices and
    # budgets (five scopes' worth of checks per request, and spend counted after each).
    "redis": {"redis": True},
    "local-all": {"governance": True},
    "redis-all": {"redis": True, "governance": True},
}
REDIS_PORT: int | None = None
"""The harness's own redis-server, started when a `redis` variant is measured."""
ALL_TESTS = ("c1", "paced", "conc", "stream")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --------------------------------------------------------------------------------------------
# Payloads: the request wrk posts, and the mock's fixed reply and stream


def request_body(*, stream: bool) -> bytes:
    """A realistic chat request of about 600 bytes (``"stream": true`` adds 16)."""
    body: dict[str, Any] = {
        "model": MODEL,
        "messages": [
            {
                "role": "system",
                "content": "You are a concise assistant for an operations team. Answer in plain "
                "English, cite the runbook section when one applies, and never invent "
                "command-line flags.",
            },
            {
                "role": "user",
                "content": "Our nightly batch job on the payments cluster started failing "
                "after last week's upgrade: the worker pods restart with exit code 137 about "
                "ten minutes in. Memory limits were not changed. What should we check first, "
                "and how do we confirm whether the new image uses more memory than the old one?",
            },
        ],
        "temperature": 0.2,
        "max_tokens": 256,
        "user": "bench-1",
    }
    if stream:
        body["stream"] = True
    return json.dumps(body).encode()


def _reply_doc(content: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-bench0123456789abcdefghijklmnop",
        "object": "chat.completion",
        "created": 1735689600,
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": content,
                    "refusal": None,
                    "annotations": [],
                },
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 131,
            "completion_tokens": 62,
            "total_tokens": 193,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
        "service_tier": "default",
        "system_fingerprint": "fp_bench01",
    }


REPLY_TEXT_BASE = (
    "Check the pods' memory usage against the limit first: exit code 137 is an OOM kill. "
    "Compare the old and new image under the same batch with kubectl top"
)


def mock_reply() -> tuple[bytes, str]:
    """The mock's non-streaming reply, exactly REPLY_SIZE bytes, and its message content."""
    base = len(json.dumps(_reply_doc(""), separators=(",", ":")).encode())
    room = REPLY_SIZE - base
    content = (REPLY_TEXT_BASE + " " + "." * max(0, room))[: max(0, room - 1)] + "."
    raw = json.dumps(_reply_doc(content), separators=(",", ":")).encode()
    assert len(raw) == REPLY_SIZE, len(raw)
    return raw, content


def mock_stream_events() -> tuple[list[bytes], str]:
    """The mock's SSE stream: N_CHUNKS ``data: {chunk}`` events and ``data: [DONE]``.

    Every chunk carries a distinct piece of content, so the relayed stream can be checked for
    all of them; the first also carries the role, the last the finish_reason and the usage.
    """
    events = []
    pieces = []
    for i in range(N_CHUNKS):
        piece = f"w{i:02d} "
        pieces.append(piece)
        delta: dict[str, Any] = {"content": piece}
        if i == 0:
            delta = {"role": "assistant", "content": piece, "refusal": None}
        chunk: dict[str, Any] = {
            "id": "chatcmpl-bench0123456789abcdefghijklmnop",
            "object": "chat.completion.chunk",
            "created": 1735689600,
            "model": MODEL,
            "service_tier": "default",
            "system_fingerprint": "fp_bench01",
            "choices": [
                {
                    "index": 0,
                    "delta": delta,
                    "logprobs": None,
                    "finish_reason": "stop" if i == N_CHUNKS - 1 else None,
                }
            ],
        }
        if i == N_CHUNKS - 1:
            chunk["usage"] = {"prompt_tokens": 131, "completion_tokens": 16, "total_tokens": 147}
        events.append(b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n")
    events.append(b"data: [DONE]\n\n")
    return events, "".join(pieces)


# --------------------------------------------------------------------------------------------
# Configuration files


def nginx_modules() -> list[str]:
    """``load_module`` lines for the Lua module (and NDK, which it needs), from Debian's files."""
    prefix = "/usr/share/nginx"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(["nginx", "-V"], capture_output=True, text=True, timeout=10).stderr
        if m := re.search(r"--prefix=(\S+)", out):
            prefix = m.group(1)
    lines = []
    avail = Path("/usr/share/nginx/modules-available")
    for conf in ("mod-http-ndk.conf", "mod-http-lua.conf"):
        path = avail / conf
        if not path.exists():
            raise SystemExit(f"{path} is missing: install libnginx-mod-http-lua")
        for m in re.finditer(r"load_module\s+([^;]+);", path.read_text()):
            so = Path(m.group(1).strip())
            if not so.is_absolute():
                so = Path(prefix) / so
            lines.append(f"load_module {so.resolve()};")
    return lines


def _nginx_common(workdir: Path, name: str) -> str:
    user = "user root root;\n" if os.geteuid() == 0 else ""
    return (
        f"{user}worker_processes 1;\nworker_rlimit_nofile 65536;\ndaemon off;\n"
        f"pid {workdir}/{name}.pid;\nerror_log {workdir}/{name}.error.log warn;\n"
        "events { worker_connections 16384; multi_accept on; }\n"
    )


def _nginx_http_common(workdir: Path, name: str) -> str:
    temp = workdir / f"{name}-temp"
    temp.mkdir(parents=True, exist_ok=True)
    return (
        "    access_log off;\n"
        "    keepalive_requests 10000000;\n    keepalive_timeout 300s;\n"
        f"    client_body_temp_path {temp}/body;\n    proxy_temp_path {temp}/proxy;\n"
        f"    fastcgi_temp_path {temp}/fastcgi;\n    uwsgi_temp_path {temp}/uwsgi;\n"
        f"    scgi_temp_path {temp}/scgi;\n"
        "    client_body_buffer_size 64k;\n    client_max_body_size 1m;\n"
    )


def write_mock_conf(workdir: Path, port: int) -> Path:
    """nginx + Lua: POST /v1/chat/completions answers the fixed reply, or with ``"stream":
    true`` in the body the fixed SSE stream, one HTTP chunk per event (flushed one by one)."""
    reply, _ = mock_reply()
    events, _ = mock_stream_events()
    (workdir / "mock-reply.json").write_bytes(reply)
    (workdir / "mock-stream.txt").write_bytes(b"".join(events))
    mods = "\n".join(nginx_modules())
    models = json.dumps(
        {"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "bench"}]},
        separators=(",", ":"),
    )
    conf = f"""{mods}
{_nginx_common(workdir, "mock")}
http {{
{_nginx_http_common(workdir, "mock")}
    lua_shared_dict bench 1m;
    init_by_lua_block {{
        local function slurp(p)
            local f = assert(io.open(p, "rb")); local s = f:read("*a"); f:close(); return s
        end
        local events, stream, i = {{}}, slurp("{workdir}/mock-stream.txt"), 1
        while i <= #stream do
            local j = assert(string.find(stream, "\\n\\n", i, true))
            events[#events + 1] = string.sub(stream, i, j + 1)
            i = j + 2
        end
        package.loaded.benchmock = {{
            reply = slurp("{workdir}/mock-reply.json"),
            events = events,
        }}
    }}
    server {{
        listen 127.0.0.1:{port} backlog=4096 reuseport;
        location = {CHAT_PATH} {{
            content_by_lua_block {{
                ngx.req.read_body()
                local body = ngx.req.get_body_data() or ""
                local m = package.loaded.benchmock
                ngx.shared.bench:incr("hits", 1, 0)
                if string.find(body, '"stream"%s*:%s*true') then
                    ngx.shared.bench:incr("streams", 1, 0)
                    ngx.header["Content-Type"] = "text/event-stream"
                    ngx.header["Cache-Control"] = "no-cache"
                    for _, ev in ipairs(m.events) do
                        ngx.print(ev)
                        ngx.flush(false)
                    end
                else
                    ngx.header["Content-Type"] = "application/json"
                    ngx.header["Content-Length"] = #m.reply
                    ngx.print(m.reply)
                end
            }}
        }}
        location = /v1/models {{
            default_type application/json;
            return 200 '{models}';
        }}
        location = /__bench/hits {{
            default_type application/json;
            content_by_lua_block {{
                local d = ngx.shared.bench
                ngx.say(string.format('{{"hits":%d,"streams":%d}}', d:get("hits") or 0,
                                      d:get("streams") or 0))
            }}
        }}
        location / {{ return 404; }}
    }}
}}
"""
    path = workdir / "mock.conf"
    path.write_text(conf)
    return path


def write_nginx_proxy_conf(workdir: Path, port: int, mock_port: int) -> Path:
    """The C reference: proxy_pass with upstream keepalive, unbuffered (streams flow through)."""
    conf = f"""{_nginx_common(workdir, "proxy")}
http {{
{_nginx_http_common(workdir, "proxy")}
    upstream mock {{
        server 127.0.0.1:{mock_port};
        keepalive 256;
        keepalive_requests 10000000;
        keepalive_timeout 300s;
    }}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{
            proxy_pass http://mock;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }}
    }}
}}
"""
    path = workdir / "nginx-proxy.conf"
    path.write_text(conf)
    return path


def write_litellm_config(workdir: Path, mock_port: int) -> Path:
    text = f"""# LiteLLM proxy config generated by bench/gateway/run.py
model_list:
  - model_name: {MODEL}
    litellm_params:
      model: openai/{MODEL}
      api_base: http://127.0.0.1:{mock_port}/v1
      api_key: sk-mock-upstream
litellm_settings:
  set_verbose: false
  json_logs: false
  turn_off_message_logging: true
  telemetry: false
general_settings:
  master_key: {MASTER_KEY}
  disable_spend_logs: true
  disable_error_logs: true
"""
    path = workdir / "litellm.yaml"
    path.write_text(text)
    return path


def ironplane_config_yaml(
    mock_port: int,
    *,
    auth: bool = True,
    limits: bool = True,
    metrics: bool = True,
    routing_targets: int = 1,
    redis: bool = False,
    governance: bool = False,
) -> str:
    """The gateway's YAML config for one variant, pointing at the mock on ``mock_port``."""

    def b(v: bool) -> str:
        return "true" if v else "false"

    key_hash = hashlib.sha256(MASTER_KEY.encode()).hexdigest()
    lines = [
        "# generated by bench/gateway/run.py",
        "gateway:",
        f"  auth: {b(auth)}",
        f"  limits: {b(limits)}",
        f"  metrics: {b(metrics)}",
        "providers:",
        "  - name: mock",
        "    kind: openai",
        f"    base_url: http://127.0.0.1:{mock_port}/v1",
        "models:",
        f"  - name: {MODEL}",
    ]
    if routing_targets > 1:
        lines.append("    strategy: weighted")
        lines.append("    targets:")
        lines += [f"      - {{provider: mock, model: {MODEL}, weight: 1}}"] * routing_targets
    else:
        lines.append("    targets:")
        lines.append(f"      - {{provider: mock, model: {MODEL}}}")
    if governance:
        lines.append("    limits: {rpm: 1000000000, tpm: 1000000000000, concurrency: 100000}")
    lines += [
        "keys:",
        "  - name: bench",
        f'    hash: "sha256:{key_hash}"',
        '    models: ["*"]',
        "    limits: {rpm: 1000000000, tpm: 1000000000000}",
    ]
    if governance:
        lines[-1] = "    limits: {rpm: 1000000000, tpm: 1000000000000, concurrency: 100000}"
        lines += [
            "    team: bench-team",
            "    budget: {daily: 1000000000, monthly: 1000000000}",
            "teams:",
            "  - name: bench-team",
            "    limits: {rpm: 1000000000, concurrency: 100000}",
            "    budget: {monthly: 1000000000}",
            "prices:",
            f"  {MODEL}: {{input: 0.10, output: 0.40}}",
        ]
    if redis:
        assert REDIS_PORT is not None, "the harness starts redis-server for the redis variants"
        prefix = f"ipbench-{os.getpid()}-{time.monotonic_ns()}:"
        lines.append(f'redis: {{url: "redis://127.0.0.1:{REDIS_PORT}/0", prefix: "{prefix}"}}')
    return "\n".join(lines) + "\n"


def write_ironplane_config(workdir: Path, mock_port: int, variant: str) -> Path:
    path = workdir / f"ironplane-{variant}.yaml"
    path.write_text(ironplane_config_yaml(mock_port, **VARIANTS[variant]))
    return path


# --------------------------------------------------------------------------------------------
# Processes and /proc accounting


class Proc:
    """A child process in its own session (so that stopping it stops its whole group)."""

    def __init__(self, name: str, cmd: list[str], logfile: Path, env: dict[str, str] | None = None):
        self.name = name
        self.cmd = cmd
        self.logfile = logfile
        self.env = env
        self.popen: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def start(self) -> None:
        with self.logfile.open("ab") as out:
            out.write(f"$ {' '.join(self.cmd)}\n".encode())
            out.flush()
            self.popen = subprocess.Popen(
                self.cmd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=REPO,
                start_new_session=True,
            )

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def log_tail(self, n: int = 3000) -> str:
        with contextlib.suppress(OSError):
            return self.logfile.read_text(errors="replace")[-n:]
        return ""

    def signal_group(self, sig: int) -> None:
        if self.popen is not None and self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.popen.pid, sig)

    def stop(self) -> None:
        if self.popen is None:
            return
        pgid = self.popen.pid  # its own session: process group id == its pid
        self.signal_group(signal.SIGCONT)  # in case it is paused
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGTERM)
            try:
                self.popen.wait(15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pgid, signal.SIGKILL)
                self.popen.wait(10)
        # leftovers of the group (e.g. workers whose parent already exited)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()


def tree_pids(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        f = _stat_fields(int(entry))
        if f is not None:
            children.setdefault(int(f[1]), []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, ()))
    return out


def tree_cpu_ticks(root: int) -> int:
    """utime+stime of the live process tree, plus the cutime+cstime of its reaped children."""
    total = 0
    for pid in tree_pids(root):
        f = _stat_fields(pid)
        if f is not None:
            total += sum(int(x) for x in f[11:15])
    return total


def cpu_affinity(pid: int) -> str:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Cpus_allowed_list:"):
                return line.split(":", 1)[1].strip()
    return "?"


def per_cpu_jiffies() -> dict[str, tuple[int, int]]:
    """cpuN -> (busy, total) jiffies from /proc/stat."""
    out = {}
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("cpu") and line[3:4].isdigit():
            name, *vals = line.split()
            nums = [int(v) for v in vals]
            idle = nums[3] + (nums[4] if len(nums) > 4 else 0)
            out[name] = (sum(nums[:8]) - idle, sum(nums[:8]))
    return out


def wait_port(port: int, proc: Proc | None, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        if proc is not None and not proc.alive():
            raise RuntimeError(f"{proc.name} exited:\n{proc.log_tail()}")
        if time.monotonic() > deadline:
            tail = proc.log_tail() if proc else ""
            raise RuntimeError(f"port {port} did not open in {timeout:.0f}s\n{tail}")
        time.sleep(0.1)


# --------------------------------------------------------------------------------------------
# HTTP smoke checks (http.client)


def http_post(
    port: int, body: bytes, *, key: str | None = MASTER_KEY, timeout: float = 30
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"}
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        conn.request("POST", CHAT_PATH, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        conn.close()


def mock_hits(port: int) -> dict[str, int]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/__bench/hits")
        return dict(json.loads(conn.getresponse().read()))
    finally:
        conn.close()


def sse_events(data: bytes) -> list[bytes]:
    """The ``data:`` payloads of an SSE body, in order."""
    out = []
    for block in re.split(rb"\r?\n\r?\n", data):
        lines = [
            ln[5:].lstrip(b" ") for ln in re.split(rb"\r?\n", block) if ln.startswith(b"data:")
        ]
        if lines:
            out.append(b"\n".join(lines))
    return out


@dataclass
class Target:
    name: str  # "direct", "nginx", "litellm", "ironplane", "ironplane:no-auth", ...
    kind: str
    port: int
    proc: Proc | None = None
    variant: str | None = None
    pin: str = "0"
    config: Path | None = None
    smoke: dict[str, Any] = field(default_factory=dict)
    ok: bool = False
    idle_cpu_pct: float | None = None

    @property
    def strict(self) -> bool:
        """Whether replies must be byte-identical to the mock's (not so for LiteLLM)."""
        return self.kind != "litellm"

    @property
    def auth_on(self) -> bool:
        if self.kind == "litellm":
            return True
        if self.kind == "ironplane":
            return bool(VARIANTS[self.variant or "all-on"].get("auth", True))
        return False


def smoke_check(t: Target, *, ready_timeout: float) -> dict[str, Any]:
    """Status 200 and the mock's reply; the stream with all chunks and [DONE]; auth enforced."""
    reply, content = mock_reply()
    events, stream_content = mock_stream_events()
    res: dict[str, Any] = {"ok": False}
    # first request: retry until the target answers (LiteLLM takes a while to be ready)
    deadline = time.monotonic() + ready_timeout
    while True:
        try:
            status, headers, body = http_post(t.port, request_body(stream=False))
            if status == 200 or time.monotonic() > deadline:
                break
        except OSError as e:
            status, headers, body = 0, {}, str(e).encode()
            if time.monotonic() > deadline:
                break
        if t.proc is not None and not t.proc.alive():
            break
        time.sleep(0.5)
    res["status"] = status
    res["content_type"] = headers.get("content-type")
    res["body_len"] = len(body)
    if status != 200:
        res["error"] = f"status {status}: {body[:500]!r}"
        return res
    if body == reply:
        res["body"] = "identical"
    else:
        try:
            doc = json.loads(body)
            same = (
                doc.get("object") == "chat.completion"
                and doc["choices"][0]["message"]["content"] == content
            )
            res["body"] = "equivalent" if same else "different"
        except (ValueError, KeyError, IndexError, TypeError):
            res["body"] = "invalid-json"
        if t.strict or res["body"] != "equivalent":
            res["error"] = f"body {res['body']} ({len(body)} bytes): {body[:300]!r}"
            return res

    # streaming
    status, headers, body = http_post(t.port, request_body(stream=True))
    res["stream_status"] = status
    res["stream_content_type"] = headers.get("content-type")
    res["stream_len"] = len(body)
    if status != 200:
        res["error"] = f"stream status {status}: {body[:500]!r}"
        return res
    got = sse_events(body)
    want = [e[len(b"data: ") : -2] for e in events]
    res["stream_events"] = len(got)
    res["stream_identical"] = body == b"".join(events)
    res["stream_done_last"] = bool(got) and got[-1] == b"[DONE]"
    res["stream_all_chunks_verbatim"] = all(w in got for w in want)
    pieces = []
    for ev in got:
        with contextlib.suppress(ValueError, KeyError, IndexError, TypeError):
            delta = json.loads(ev)["choices"][0]["delta"]
            pieces.append(delta.get("content") or "")
    res["stream_content_ok"] = "".join(pieces) == stream_content
    if t.strict:
        stream_ok = res["stream_all_chunks_verbatim"] and res["stream_done_last"]
    else:
        stream_ok = res["stream_content_ok"] and res["stream_done_last"]
    if not stream_ok:
        res["error"] = f"stream incomplete or altered ({len(got)} events): {body[:400]!r}"
        return res

    # auth: a wrong key must be refused where the target enforces keys
    status, _, body = http_post(t.port, request_body(stream=False), key="sk-not-the-key")
    res["wrong_key_status"] = status
    # 401/403; LiteLLM without a database answers 400 "No connected db." for any other key
    if t.auth_on and not 400 <= status < 500:
        res["error"] = f"a wrong key got status {status} (auth should be on): {body[:200]!r}"
        return res
    if not t.auth_on and t.kind == "ironplane" and status != 200:
        res["error"] = f"auth is off, yet a wrong key got status {status}: {body[:200]!r}"
        return res
    res["ok"] = True
    return res


# --------------------------------------------------------------------------------------------
# wrk


@dataclass
class Test:
    name: str
    conns: int
    stream: bool = False
    rate: float = 0.0  # total requests/s (paced), 0 = closed loop


def run_wrk(
    port: int,
    test: Test,
    duration: float,
    workdir: Path,
    args: argparse.Namespace,
    *,
    log_name: str,
) -> dict[str, Any]:
    body_file = workdir / ("body-stream.json" if test.stream else "body.json")
    env = {**os.environ, "WRK_BODY_FILE": str(body_file), "WRK_KEY": MASTER_KEY}
    env["WRK_RATE"] = str(test.rate / test.conns) if test.rate else "0"
    env["WRK_RAW"] = "1" if test.conns == 1 else "0"
    cmd = [
        "timeout", "-k", "5", str(int(duration + 30)),
        "taskset", "-c", args.load_cpus,
        "wrk", "-t1", f"-c{test.conns}", f"-d{duration:g}s",
        f"--timeout={args.wrk_timeout:g}s", "--latency", "-s", str(WRK_SCRIPT),
        f"http://127.0.0.1:{port}{CHAT_PATH}",
    ]  # fmt: skip
    # its own process group, so that an interrupted harness takes wrk down with it
    with subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    ) as pw:  # fmt: skip
        try:
            stdout, stderr = pw.communicate()
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pw.pid, signal.SIGKILL)
            raise
    proc = subprocess.CompletedProcess(cmd, pw.returncode, stdout, stderr)
    (workdir / "wrk").mkdir(exist_ok=True)
    (workdir / "wrk" / f"{log_name}.txt").write_text(
        f"$ {' '.join(cmd)}\n{proc.stdout}\n--- stderr\n{proc.stderr}"
    )
    for line in proc.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            return dict(json.loads(line[len("BENCH_JSON ") :]))
    raise RuntimeError(f"wrk rc={proc.returncode} without a summary:\n{proc.stdout}\n{proc.stderr}")


def wait_quiet(args: argparse.Namespace) -> float:
    """Wait (at most --quiet-wait s) until both CPUs are under --quiet-below % busy for 0.5 s:
    the machine may be shared. Returns the seconds waited."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < args.quiet_wait:
        a = per_cpu_jiffies()
        time.sleep(0.5)
        b = per_cpu_jiffies()
        busy = [100 * (b[c][0] - a[c][0]) / max(1, b[c][1] - a[c][1]) for c in b]
        if max(busy) < args.quiet_below:
            break
    return time.monotonic() - t0


def measure(
    t: Target, test: Test, mock: Target, workdir: Path, args: argparse.Namespace, tag: str
) -> dict[str, Any]:
    waited = wait_quiet(args) if args.quiet_wait > 0 else 0.0
    hits0 = mock_hits(mock.port)
    root = t.proc.pid if t.proc else None
    assert mock.proc is not None
    t0 = time.monotonic()
    cpu0 = per_cpu_jiffies()
    tt0 = tree_cpu_ticks(root) if root else 0
    mt0 = tree_cpu_ticks(mock.proc.pid)
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    w = run_wrk(t.port, test, args.duration, workdir, args, log_name=f"{tag}-{t.name}-{test.name}")
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    mt1 = tree_cpu_ticks(mock.proc.pid)
    tt1 = tree_cpu_ticks(root) if root else 0
    cpu1 = per_cpu_jiffies()
    wall = time.monotonic() - t0
    hits1 = mock_hits(mock.port)

    dur = w["duration_us"] / 1e6
    raw_p = w.get("raw_p") or {}

    def raw_ms(q: str) -> float | None:
        return raw_p[q] / 1000 if q in raw_p else None

    e = w["errors"]
    ok = max(0, w["requests"] - e["status"])
    socket_errors = e["connect"] + e["read"] + e["write"] + e["timeout"]
    p = w["latency_us"]["p"]
    tcpu = (tt1 - tt0) / CLK_TCK
    mcpu = (mt1 - mt0) / CLK_TCK
    wcpu = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
    busy = {}
    for c in cpu1:
        db, dt = cpu1[c][0] - cpu0[c][0], cpu1[c][1] - cpu0[c][1]
        busy[c] = round(100 * db / dt, 1) if dt else None
    r: dict[str, Any] = {
        "requests": w["requests"],
        "ok": ok,
        "rps": ok / dur if dur else 0.0,
        "duration_s": round(dur, 3),
        "non2xx": e["status"],
        "socket_errors": socket_errors,
        "errors": dict(e),
        "p50_ms": p["50"] / 1000,
        "p90_ms": p["90"] / 1000,
        "p99_ms": p["99"] / 1000,
        "p999_ms": p["99.9"] / 1000,
        "mean_ms": w["latency_us"]["mean"] / 1000,
        "max_ms": w["latency_us"]["max"] / 1000,
        # timed in Lua, without wrk's coordinated-omission correction (one-connection tests)
        "raw_p50_ms": raw_ms("50"),
        "raw_p90_ms": raw_ms("90"),
        "raw_p99_ms": raw_ms("99"),
        "raw_p999_ms": raw_ms("99.9"),
        "raw_max_ms": w["raw_max"] / 1000 if "raw_max" in w else None,
        "raw_over_5ms": w.get("raw_over_5ms"),
        # [ms since the first request, latency ms] of the first 200 requests over 5 ms
        "raw_slow": w.get("raw_slow"),
        # mean latency x requests / (duration x connections): at most ~1 for real samples;
        # above, wrk's coordinated-omission correction added synthetic ones (stalls)
        "co_inflation": round(
            w["latency_us"]["mean"] * w["requests"] / max(1, w["duration_us"] * test.conns), 2
        ),
        "bytes": w["bytes"],
        "cpu_us_per_req": (tcpu * 1e6 / ok) if (root and ok) else None,
        "target_cpu_pct": round(100 * tcpu / wall, 1) if root else None,
        "mock_cpu_us_per_req": mcpu * 1e6 / ok if ok else None,
        "wrk_cpu_pct": round(100 * wcpu / wall, 1),
        "cpu_busy_pct": busy,
        # CPU on the gateway's core used by neither the gateway nor the harness's processes:
        # other people's work on a shared machine (only where the gateway has one core)
        "other_cpu0_pct": other_on_target_core(t, busy, tcpu / wall if root else 0.0, args),
        "quiet_wait_s": round(waited, 1),
        "upstream_hits": hits1["hits"] - hits0["hits"],
        "conns": test.conns,
    }
    if test.rate:
        r["target_rate"] = test.rate
    return r


# --------------------------------------------------------------------------------------------
# Targets


def other_on_target_core(
    t: Target, busy: dict[str, float | None], target_cores: float, args: argparse.Namespace
) -> float | None:
    if "," in args.target_cpus or "-" in args.target_cpus or "," in t.pin:
        return None
    b = busy.get(f"cpu{args.target_cpus}")
    if b is None:
        return None
    return round(max(0.0, b - 100 * target_cores), 1)


def ironplane_bin(args: argparse.Namespace) -> Path:
    return Path(args.ironplane)


def ironplane_available(args: argparse.Namespace) -> tuple[bool, str]:
    exe = ironplane_bin(args)
    if not exe.exists():
        return False, f"{exe} does not exist"
    try:
        p = subprocess.run(
            [str(exe), "gateway", "--help"], capture_output=True, text=True, timeout=60, cwd=REPO
        )
    except subprocess.TimeoutExpired:
        return False, "`ironplane gateway --help` took over 60 s"
    if p.returncode != 0:
        tail = (p.stderr or p.stdout)[-500:]
        return False, f"`ironplane gateway --help` rc={p.returncode}: {tail}"
    return True, ""


def litellm_bin(args: argparse.Namespace) -> Path:
    return Path(args.litellm_venv) / "bin" / "litellm"


def make_target(name: str, workdir: Path, mock_port: int, args: argparse.Namespace) -> Target:
    kind, _, variant = name.partition(":")
    port = free_port()
    env = {**os.environ}
    if kind == "nginx":
        conf = write_nginx_proxy_conf(workdir, port, mock_port)
        cmd = ["taskset", "-c", args.target_cpus, "nginx", "-p", str(workdir), "-c", str(conf)]
        cmd += ["-e", str(workdir / "proxy.error.log")]
        return Target(name, kind, port, Proc(name, cmd, workdir / "nginx.log"), config=conf)
    if kind == "litellm":
        conf = write_litellm_config(workdir, mock_port)
        env.update(
            LITELLM_LOG="ERROR",
            LITELLM_LOCAL_MODEL_COST_MAP="True",
            LITELLM_TELEMETRY="False",
            LITELLM_DONT_SHOW_FEEDBACK_BOX="true",
            NO_DOCS="True",
            NO_REDOC="True",
            PYTHONUNBUFFERED="1",
        )
        for k in ("DATABASE_URL", "REDIS_HOST", "REDIS_URL", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
            env.pop(k, None)
        cmd = ["taskset", "-c", args.target_cpus, str(litellm_bin(args)), "--config", str(conf)]
        cmd += ["--host", "127.0.0.1", "--port", str(port), "--num_workers", "1"]
        return Target(name, kind, port, Proc(name, cmd, workdir / "litellm.log", env), config=conf)
    if kind == "ironplane":
        variant = variant or "all-on"
        conf = write_ironplane_config(workdir, mock_port, variant)
        pin = args.target_cpus if args.workers <= 1 else f"{args.target_cpus},{args.load_cpus}"
        cmd = ["taskset", "-c", pin, str(ironplane_bin(args)), "gateway", "--config", str(conf)]
        cmd += ["--host", "127.0.0.1", "--port", str(port)]
        if args.workers > 1:
            cmd += ["--workers", str(args.workers)]
        lf = workdir / f"ironplane-{variant}.log"
        return Target(name, kind, port, Proc(name, cmd, lf, env), variant, pin, conf)
    raise SystemExit(f"unknown target {name!r}")


def start_redis(workdir: Path, args: argparse.Namespace, names: list[str]) -> Proc | None:
    """redis-server for the `redis` variants, pinned with wrk and the mock, no persistence."""
    global REDIS_PORT
    if not any("redis" in n for n in names):
        return None
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("the redis variants need redis-server (apt-get install redis-server)")
    REDIS_PORT = free_port()
    cmd = ["taskset", "-c", args.load_cpus, binary, "--port", str(REDIS_PORT)]
    cmd += ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(workdir)]
    proc = Proc("redis", cmd, workdir / "redis.log")
    proc.start()
    wait_port(REDIS_PORT, proc, 20)
    return proc


def start_mock(workdir: Path, args: argparse.Namespace) -> Target:
    port = free_port()
    conf = write_mock_conf(workdir, port)
    cmd = ["taskset", "-c", args.load_cpus, "nginx", "-p", str(workdir), "-c", str(conf)]
    cmd += ["-e", str(workdir / "mock.error.log")]
    mock = Target("mock", "mock", port, Proc("mock", cmd, workdir / "mock.log"), pin=args.load_cpus)
    assert mock.proc is not None
    mock.proc.start()
    wait_port(port, mock.proc, 20)
    return mock


def tests_from(args: argparse.Namespace) -> list[Test]:
    out = []
    for name in args.tests.split(","):
        name = name.strip()
        if name == "c1":
            out.append(Test("c1", 1))
        elif name == "paced":
            out.append(Test("paced", 1, rate=args.rate))
        elif name == "conc":
            out += [Test(f"c{int(c)}", int(c)) for c in args.conc.split(",")]
        elif re.fullmatch(r"c\d+", name):
            out.append(Test(name, int(name[1:])))
        elif name == "stream":
            out.append(Test(f"stream-c{args.stream_conns}", args.stream_conns, stream=True))
        elif name:
            raise SystemExit(f"unknown test {name!r} (c1, paced, conc, cN, stream)")
    return out


def target_names(args: argparse.Namespace) -> list[str]:
    variants = list(VARIANTS) if args.variants == "all" else args.variants.split(",")
    for v in variants:
        if v not in VARIANTS:
            raise SystemExit(f"unknown variant {v!r} (one of {', '.join(VARIANTS)}, or all)")
    names = []
    for t in args.targets.split(","):
        t = t.strip()
        if t == "ironplane":
            names += ["ironplane" if v == "all-on" else f"ironplane:{v}" for v in variants]
        elif t.startswith("ironplane:") or t in ALL_TARGETS:
            names.append(t)
        elif t:
            raise SystemExit(f"unknown target {t!r} ({', '.join(ALL_TARGETS)})")
    return names


def prepare_targets(
    names: list[str], workdir: Path, mock: Target, args: argparse.Namespace
) -> tuple[list[Target], dict[str, str]]:
    skipped: dict[str, str] = {}
    ip_ok, ip_why = (True, "")
    if any(n.startswith("ironplane") for n in names):
        ip_ok, ip_why = ironplane_available(args)
    targets = []
    for name in names:
        if name == "direct":
            t = Target("direct", "direct", mock.port, pin=args.load_cpus)
        else:
            if name.startswith("ironplane") and not ip_ok:
                skipped[name] = f"not available: {ip_why}"
                continue
            if name == "litellm" and not litellm_bin(args).exists():
                skipped[name] = (
                    f"{litellm_bin(args)} is missing: run bash bench/gateway/setup_litellm.sh"
                )
                continue
            t = make_target(name, workdir, mock.port, args)
        targets.append(t)
    for t in targets:
        try:
            if t.proc is not None:
                log(f"starting {t.name}: {' '.join(t.proc.cmd)}")
                t.proc.start()
                wait_port(t.port, t.proc, args.start_timeout)
            t.smoke = smoke_check(t, ready_timeout=args.start_timeout)
        except (RuntimeError, OSError, http.client.HTTPException) as e:
            t.smoke = {"ok": False, "error": str(e)}
        if t.proc is not None:
            pids = tree_pids(t.proc.pid)
            t.smoke["pids"] = pids
            t.smoke["affinity"] = sorted({cpu_affinity(p) for p in pids})
        t.ok = bool(t.smoke.get("ok"))
        if t.ok:
            log(f"{t.name}: smoke ok ({_smoke_summary(t.smoke)})")
        else:
            log(f"{t.name}: SMOKE FAILED: {t.smoke.get('error')}")
            if t.proc is not None:
                log(f"{t.name} log tail:\n{t.proc.log_tail(2000)}")
                t.proc.stop()
            skipped[t.name] = f"smoke check failed: {t.smoke.get('error')}"
    return [t for t in targets if t.ok], skipped


def _smoke_summary(s: dict[str, Any]) -> str:
    return (
        f"body {s.get('body')}, stream {s.get('stream_events')} events"
        f"{' identical' if s.get('stream_identical') else ''}, wrong key -> "
        f"{s.get('wrong_key_status')}"
    )


@contextlib.contextmanager
def others_paused(targets: list[Target], current: Target, args: argparse.Namespace) -> Any:
    """SIGSTOP the other gateways (their process groups) while ``current`` is measured, so that
    their idle work (LiteLLM's background tasks) does not take CPU from it."""
    others = [t for t in targets if t is not current and t.proc is not None]
    if args.no_pause:
        others = []
    for t in others:
        assert t.proc is not None
        t.proc.signal_group(signal.SIGSTOP)
    try:
        yield
    finally:
        for t in others:
            assert t.proc is not None
            t.proc.signal_group(signal.SIGCONT)


def idle_cpu(targets: list[Target], seconds: float) -> None:
    live = [t for t in targets if t.proc is not None]
    before = {t.name: tree_cpu_ticks(t.proc.pid) for t in live if t.proc}
    time.sleep(seconds)
    for t in live:
        assert t.proc is not None
        ticks = tree_cpu_ticks(t.proc.pid) - before[t.name]
        t.idle_cpu_pct = round(100 * ticks / CLK_TCK / seconds, 2)


# --------------------------------------------------------------------------------------------
# Results


def med(values: Sequence[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


MEDIAN_KEYS = (
    "rps", "p50_ms", "p90_ms", "p99_ms", "p999_ms", "mean_ms", "cpu_us_per_req",
    "target_cpu_pct", "mock_cpu_us_per_req", "wrk_cpu_pct", "upstream_hits", "other_cpu0_pct",
    "raw_p50_ms", "raw_p90_ms", "raw_p99_ms", "raw_p999_ms", "raw_max_ms", "max_ms",
    "co_inflation",
)  # fmt: skip


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    s: dict[str, Any] = {k: med([r.get(k) for r in runs]) for k in MEDIAN_KEYS}
    s["non2xx"] = sum(r["non2xx"] for r in runs)
    s["socket_errors"] = sum(r["socket_errors"] for r in runs)
    s["ok"] = sum(r["ok"] for r in runs)
    over = [r["raw_over_5ms"] for r in runs if r.get("raw_over_5ms") is not None]
    s["raw_over_5ms"] = sum(over) if over else None
    cpus = sorted({c for r in runs for c in r["cpu_busy_pct"]})
    s["cpu_busy_pct"] = {c: med([r["cpu_busy_pct"].get(c) for r in runs]) for c in cpus}
    # upstream requests beyond the completed ones, less those still in flight when wrk stopped
    s["extra_upstream"] = sum(r["upstream_hits"] - r["ok"] - r["conns"] for r in runs)
    return s


def f(v: float | None, nd: int = 1) -> str:
    return "-" if v is None else f"{v:,.{nd}f}"


def markdown(results: dict[str, Any], tests: list[Test]) -> str:
    out = []
    tres = results["targets"]
    direct = tres.get("direct", {}).get("tests", {})
    for test in tests:
        rows = [(n, r["tests"][test.name]) for n, r in tres.items() if test.name in r["tests"]]
        if not rows:
            continue
        if test.rate:
            title = f"### {test.name}: {test.rate:g} requests/s paced on {test.conns} connection"
        elif test.stream:
            title = f"### {test.name}: streaming ({N_CHUNKS} chunks), {test.conns} connections"
        else:
            title = f"### {test.name}: closed loop, {test.conns} connection(s)"
        out.append(title + "\n")
        rate_col = "streams/s" if test.stream else ("achieved req/s" if test.rate else "RPS")
        cpu_col = "CPU µs/stream" if test.stream else "CPU µs/req"
        one = test.conns == 1
        vs_direct = one and test.name in direct
        head = ["target", rate_col, "p50 / p99 ms"]
        if one:
            head += ["raw p50 / p99 ms"]
        if vs_direct:
            head += ["+p50 / +p99 ms vs direct", "raw +p50 / +p99 ms"]
        if not one:
            head += ["max ms"]
        if not one and not test.rate:
            head += ["req/s per core (1e6/CPU µs)"]
        head += ["errors non2xx/socket", cpu_col, "target CPU %", "cpu0/cpu1 busy %"]
        head += ["others on cpu0 %"]
        out.append("| " + " | ".join(head) + " |")
        out.append("|" + "---|" * len(head))

        def pair(a: float | None, b: float | None) -> str:
            return f"{f(a, 2)} / {f(b, 2)}"

        for name, r in rows:
            s = r["summary"]
            cells = [name, f(s["rps"], 0), pair(s["p50_ms"], s["p99_ms"])]
            if one:
                cells += [pair(s["raw_p50_ms"], s["raw_p99_ms"])]
            if vs_direct:
                cells += [pair(r.get("added_p50_ms"), r.get("added_p99_ms"))]
                cells += [pair(r.get("added_raw_p50_ms"), r.get("added_raw_p99_ms"))]
            if not one:
                cells += [f(s["max_ms"], 1)]
            if not one and not test.rate:
                cpu = s["cpu_us_per_req"]
                cells += [f(1e6 / cpu, 0) if cpu else "-"]
            busy = s["cpu_busy_pct"]
            cells += [
                f"{s['non2xx']}/{s['socket_errors']}",
                f(s["cpu_us_per_req"], 0),
                f(s["target_cpu_pct"], 0),
                f"{f(busy.get('cpu0'), 0)}/{f(busy.get('cpu1'), 0)}",
                f(s["other_cpu0_pct"], 0),
            ]
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
    if results.get("skipped"):
        out.append("Skipped: " + "; ".join(f"{k}: {v}" for k, v in results["skipped"].items()))
    return "\n".join(out)


def machine_facts(args: argparse.Namespace) -> dict[str, Any]:
    def cmd_out(cmd: list[str]) -> str:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=30, cwd=REPO)
            return (p.stdout + p.stderr).strip().splitlines()[0] if (p.stdout + p.stderr) else ""
        return ""

    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    lit = Path(args.litellm_venv) / "bin" / "python"
    return {
        "cpu": model,
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "loadavg_at_start": os.getloadavg(),
        "wrk": cmd_out(["wrk", "--version"]),
        "nginx": cmd_out(["nginx", "-v"]),
        "litellm": cmd_out(
            [str(lit), "-c", "import importlib.metadata as m; print(m.version('litellm'))"]
        )
        if lit.exists()
        else None,
        "git_commit": cmd_out(["git", "rev-parse", "HEAD"]),
        "git_dirty": bool(cmd_out(["git", "status", "--porcelain"])),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


# --------------------------------------------------------------------------------------------
# Profiling


def frame_key(frame: str) -> tuple[str, str]:
    """``func (path/file.py:123)`` -> (``func``, shortened path)."""
    m = re.match(r"^(.*) \((.*?)(?::\d+)?\)$", frame)
    if not m:
        return frame, ""
    func, path = m.group(1), m.group(2)
    for marker in ("site-packages/", "/src/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            if marker == "/lib/python3":
                path = "stdlib:" + path.split("/", 1)[-1]
            break
    return func, path


def summarize_pyspy(raw: Path, top: int) -> str:
    self_c: Counter[str] = Counter()
    incl_c: Counter[str] = Counter()
    pkg_c: Counter[str] = Counter()
    line_c: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        cnt = int(n)
        frames = [fr for fr in stack.split(";") if "(" in fr and not fr.startswith("process ")]
        if not frames:
            continue
        total += cnt
        keys = [frame_key(fr) for fr in frames]
        func, path = keys[-1]
        self_c[f"{func} ({path})"] += cnt
        m = re.search(r":(\d+)\)$", frames[-1])
        line_c[f"{func} ({path}:{m.group(1) if m else '?'})"] += cnt
        top_pkg = path.split("/", 1)[0] if path else "?"
        pkg_c[top_pkg] += cnt
        for k in {f"{fn} ({p})" for fn, p in keys}:
            incl_c[k] += cnt
    if not total:
        return "no samples (is the gateway a Python process? does py-spy have ptrace rights?)"
    lines = [f"py-spy: {total} samples", "", f"top {top} self (leaf):"]
    lines += [f"  {100 * c / total:5.1f}%  {k}" for k, c in self_c.most_common(top)]
    lines += ["", f"top {top} self lines:"]
    lines += [f"  {100 * c / total:5.1f}%  {k}" for k, c in line_c.most_common(top)]
    lines += ["", f"top {top} inclusive:"]
    lines += [f"  {100 * c / total:5.1f}%  {k}" for k, c in incl_c.most_common(top)]
    lines += ["", "self time by top-level package/module:"]
    lines += [f"  {100 * c / total:5.1f}%  {k}" for k, c in pkg_c.most_common(15)]
    return "\n".join(lines)


def find_pyspy() -> str | None:
    local = HERE / ".venv-tools" / "bin" / "py-spy"
    if local.exists():
        return str(local)
    return shutil.which("py-spy")


def profile(args: argparse.Namespace, workdir: Path) -> int:
    mock = start_mock(workdir, args)
    redis = start_redis(workdir, args, [args.profile_target])
    procs = [mock.proc, redis]
    try:
        name = args.profile_target
        targets, skipped = prepare_targets([name], workdir, mock, args)
        procs += [t.proc for t in targets]
        if not targets:
            print(f"{name}: {skipped.get(name)}")
            return 1
        t = targets[0]
        assert t.proc is not None
        test = Test(f"c{args.profile_conns}", args.profile_conns)
        log(f"warm-up {args.warmup:g}s")
        run_wrk(t.port, test, args.warmup, workdir, args, log_name=f"warmup-{t.name}")
        pids = tree_pids(t.proc.pid)
        report = [f"# profile of {t.name} (pids {pids}) under c={test.conns}, {args.duration:g}s"]

        spy = find_pyspy()
        if spy is None:
            report.append("py-spy not found: run bash bench/gateway/setup_litellm.sh")
        else:
            raw = workdir / f"pyspy-{t.name}.txt"
            cmd = ["taskset", "-c", args.load_cpus, spy, "record", "-p", str(t.proc.pid)]
            cmd += ["--subprocesses", "--full-filenames", "-r", str(args.profile_rate)]
            cmd += ["-f", "raw", "-o", str(raw)]
            cmd += ["-d", str(int(args.duration))]
            if not args.all_threads:
                cmd.append("--gil")
            if args.native:
                cmd.append("--native")
            if not args.blocking:
                cmd.append("--nonblocking")
            log(f"py-spy: {' '.join(cmd)}")
            with (workdir / "pyspy.log").open("wb") as out:
                sp = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
            time.sleep(1.0)
            w = run_wrk(t.port, test, args.duration, workdir, args, log_name=f"pyspy-{t.name}")
            try:
                sp.wait(args.duration + 30)
            except subprocess.TimeoutExpired:
                sp.terminate()
                sp.wait(10)
            report.append(
                f"throughput while sampled: {w['requests'] / (w['duration_us'] / 1e6):,.0f} req/s "
                f"(py-spy {'' if args.blocking else 'non'}blocking, {args.profile_rate} Hz, "
                f"{'all active threads' if args.all_threads else 'GIL holder only'})"
            )
            if raw.exists():
                report += ["", summarize_pyspy(raw, args.top), "", f"raw stacks: {raw}"]
                report.append("(collapsed format: flamegraph.pl or speedscope.app read it)")
            else:
                report.append(f"py-spy wrote nothing:\n{(workdir / 'pyspy.log').read_text()}")

        if args.perf:
            data = workdir / f"perf-{t.name}.data"
            pids = tree_pids(t.proc.pid)
            cmd = ["taskset", "-c", args.load_cpus, "perf", "record", "-e", "cpu-clock"]
            cmd += ["-F", "999", "-g", "-p", ",".join(map(str, pids)), "-o", str(data)]
            cmd += ["--", "sleep", str(int(args.duration))]
            log(f"perf: {' '.join(cmd)}")
            with (workdir / "perf.log").open("wb") as out:
                pp = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
            time.sleep(0.5)
            run_wrk(t.port, test, args.duration, workdir, args, log_name=f"perf-{t.name}")
            pp.wait(args.duration + 30)
            rep = subprocess.run(
                ["perf", "report", "-i", str(data), "--stdio", "--no-children",
                 "--sort", "dso,symbol", "--percent-limit", "0.7", "-g", "none"],
                capture_output=True, text=True, timeout=300, check=False,
            )  # fmt: skip
            rows = [
                ln.rstrip(" -") for ln in rep.stdout.splitlines()
                if ln.strip() and not ln.startswith("#")
            ]  # fmt: skip
            dso = subprocess.run(
                ["perf", "report", "-i", str(data), "--stdio", "--no-children",
                 "--sort", "dso", "-g", "none"],
                capture_output=True, text=True, timeout=300, check=False,
            )  # fmt: skip
            drows = [
                ln.rstrip(" -") for ln in dso.stdout.splitlines()
                if ln.strip() and not ln.startswith("#")
            ]  # fmt: skip
            report += ["", "perf (self, by dso):", *drows[:12]]
            report += ["", "perf (self, by dso/symbol):", *rows[: args.top * 2], f"data: {data}"]

        text = "\n".join(report)
        print(text)
        (workdir / "profile.txt").write_text(text + "\n")
        return 0
    finally:
        for p in reversed(procs):
            if p is not None:
                p.stop()


# --------------------------------------------------------------------------------------------
# Main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--targets",
        default=",".join(ALL_TARGETS),
        help="comma list of direct,nginx,litellm,ironplane (default: all; a target "
        "that is not installed or fails its smoke check is skipped and reported)",
    )
    ap.add_argument(
        "--variants",
        default="all-on",
        help=f"ironplane config variants: comma list of {','.join(VARIANTS)}, or all",
    )
    ap.add_argument(
        "--workers",
        type=int,
        default=1,
        help="ironplane --workers; with 2 it is pinned to both cores",
    )
    ap.add_argument(
        "--tests",
        default=",".join(ALL_TESTS),
        help="comma list of c1, paced, conc (= c32,c64 from --conc), cN, stream",
    )
    ap.add_argument("--conc", default="32,64", help="connection counts of the conc test")
    ap.add_argument("--stream-conns", type=int, default=32)
    ap.add_argument("--rate", type=float, default=350.0, help="paced test: requests/s")
    ap.add_argument("--runs", type=int, default=3, help="interleaved rounds (medians over them)")
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    ap.add_argument("--warmup", type=float, default=5.0, help="seconds of warm-up per target")
    ap.add_argument("--json", type=Path, help="write the results here")
    ap.add_argument(
        "--out-dir",
        type=Path,
        help="configs, logs and wrk outputs (default bench/gateway/out/<time>)",
    )
    ap.add_argument("--target-cpus", default="0", help="taskset list for the gateways")
    ap.add_argument("--load-cpus", default="1", help="taskset list for wrk and the mock")
    ap.add_argument("--wrk-timeout", type=float, default=10.0)
    ap.add_argument(
        "--quiet-wait",
        type=float,
        default=5.0,
        help="before each measurement wait up to this many seconds for an idle machine (0: off)",
    )
    ap.add_argument(
        "--no-pause",
        action="store_true",
        help="do not SIGSTOP the other gateways while one is measured",
    )
    ap.add_argument("--quiet-below", type=float, default=10.0, help="idle: each CPU under this %%")
    ap.add_argument("--start-timeout", type=float, default=90.0)
    ap.add_argument("--litellm-venv", default=str(HERE / ".venv-litellm"))
    ap.add_argument("--ironplane", default=str(REPO / ".venv" / "bin" / "ironplane"))
    prof = ap.add_argument_group("profiling (--profile replaces the benchmark)")
    prof.add_argument(
        "--profile",
        action="store_true",
        help="record the target under closed-loop load with py-spy (and perf)",
    )
    prof.add_argument(
        "--profile-target",
        default="ironplane",
        help="ironplane, ironplane:VARIANT, litellm or nginx",
    )
    prof.add_argument("--profile-conns", type=int, default=32)
    prof.add_argument("--profile-rate", type=int, default=200, help="py-spy samples/s")
    prof.add_argument("--native", action="store_true", help="py-spy --native (C frames too)")
    prof.add_argument(
        "--blocking",
        action="store_true",
        help="let py-spy pause the process for each sample (default: --nonblocking; on uvloop "
        "the blocking mode piles the samples onto the lines that make syscalls)",
    )
    prof.add_argument(
        "--all-threads",
        action="store_true",
        help="sample every thread py-spy thinks active (default: --gil, only the thread holding "
        "the GIL, so idle thread-pool workers blocked in C do not count as busy)",
    )
    prof.add_argument("--perf", action="store_true", help="also a perf record window")
    prof.add_argument("--top", type=int, default=25, help="frames to print")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for tool in ("wrk", "nginx", "taskset", "timeout"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed")
    workdir = args.out_dir or HERE / "out" / time.strftime("%Y%m%d-%H%M%S")
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "body.json").write_bytes(request_body(stream=False))
    (workdir / "body-stream.json").write_bytes(request_body(stream=True))
    # the harness itself (and so every child not pinned explicitly) stays off the gateway's core
    os.sched_setaffinity(0, {int(c) for c in args.load_cpus.split(",")})

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    log(f"workdir {workdir}")
    if args.profile:
        if args.duration < 10:
            log("note: a profile wants --duration 20 or more")
        return profile(args, workdir)

    tests = tests_from(args)
    names = target_names(args)
    est = len(names) * (args.warmup + 4 + len(tests) * args.duration * args.runs)
    log(f"targets {', '.join(names)}; tests {', '.join(t.name for t in tests)}; "
        f"about {est / 60:.1f} min after start-up")  # fmt: skip

    mock = start_mock(workdir, args)
    redis = start_redis(workdir, args, names)
    targets: list[Target] = []
    results: dict[str, Any] = {
        "meta": {
            "machine": machine_facts(args),
            "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "workdir": str(workdir),
            "request_bytes": len(request_body(stream=False)),
            "stream_request_bytes": len(request_body(stream=True)),
            "reply_bytes": REPLY_SIZE,
            "stream_bytes": len(b"".join(mock_stream_events()[0])),
            "stream_chunks": N_CHUNKS,
            "mock_port": mock.port,
        },
        "targets": {},
        "skipped": {},
    }
    try:
        # the harness checks the mock like any target
        mock_direct = Target("direct", "direct", mock.port)
        ms = smoke_check(mock_direct, ready_timeout=10)
        if not ms["ok"]:
            raise SystemExit(f"the mock fails its own smoke check: {ms}")
        targets, skipped = prepare_targets(names, workdir, mock, args)
        results["skipped"] = skipped
        if not targets:
            log("no target left to measure")
            return 1
        for t in targets:
            log(f"warm-up {t.name} {args.warmup:g}s")
            warm = Test("warmup", 32)
            with others_paused(targets, t, args):
                run_wrk(t.port, warm, args.warmup, workdir, args, log_name=f"warmup-{t.name}")
                if any(x.stream for x in tests):
                    warm_s = Test("warmup-stream", args.stream_conns, stream=True)
                    run_wrk(t.port, warm_s, min(args.warmup, 2), workdir, args,
                            log_name=f"warmup-stream-{t.name}")  # fmt: skip
        idle_cpu(targets, 3.0)
        runs: dict[str, dict[str, list[dict[str, Any]]]] = {t.name: {} for t in targets}
        for rnd in range(args.runs):
            order = targets[rnd % len(targets) :] + targets[: rnd % len(targets)]
            for t in order:
                for test in tests:
                    if t.proc is not None and not t.proc.alive():
                        raise RuntimeError(f"{t.name} died:\n{t.proc.log_tail()}")
                    with others_paused(targets, t, args):
                        r = measure(t, test, mock, workdir, args, tag=f"r{rnd + 1}")
                    r["round"] = rnd + 1
                    runs[t.name].setdefault(test.name, []).append(r)
                    log(
                        f"round {rnd + 1}/{args.runs} {t.name:<22} {test.name:<12} "
                        f"{r['rps']:>9,.0f}/s p50 {r['p50_ms']:.2f} p99 {r['p99_ms']:.2f} ms "
                        f"err {r['non2xx']}/{r['socket_errors']} "
                        f"cpu {f(r['cpu_us_per_req'], 0)} µs/req "
                        f"busy {r['cpu_busy_pct'].get('cpu0')}/{r['cpu_busy_pct'].get('cpu1')}% "
                        f"others {r['other_cpu0_pct']}%"
                        + (f" (waited {r['quiet_wait_s']}s)" if r["quiet_wait_s"] >= 1 else "")
                    )
        for t in targets:
            tr: dict[str, Any] = {
                "kind": t.kind,
                "variant": t.variant,
                "pin": t.pin,
                "port": t.port,
                "config": str(t.config) if t.config else None,
                "smoke": t.smoke,
                "idle_cpu_pct": t.idle_cpu_pct,
                "tests": {},
            }
            for test_name, rs in runs[t.name].items():
                entry: dict[str, Any] = {"summary": summarize(rs), "runs": rs}
                drs = runs.get("direct", {}).get(test_name)
                if drs and t.name != "direct":
                    by_round = {d["round"]: d for d in drs}
                    pairs = [(r, by_round[r["round"]]) for r in rs if r["round"] in by_round]
                    entry["added_p50_ms"] = med([r["p50_ms"] - d["p50_ms"] for r, d in pairs])
                    entry["added_p99_ms"] = med([r["p99_ms"] - d["p99_ms"] for r, d in pairs])
                    for q in ("raw_p50_ms", "raw_p99_ms"):
                        diffs = [
                            r[q] - d[q] for r, d in pairs if r[q] is not None and d[q] is not None
                        ]
                        entry[f"added_{q}"] = med(diffs)
                tr["tests"][test_name] = entry
            results["targets"][t.name] = tr
        results["meta"]["mock_totals"] = mock_hits(mock.port)
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        for t in targets:
            if t.proc is not None:
                t.proc.stop()
        assert mock.proc is not None
        mock.proc.stop()
        if redis is not None:
            redis.stop()

    table = markdown(results, tests)
    notes = []
    for name, tr in results["targets"].items():
        if tr["idle_cpu_pct"] and tr["idle_cpu_pct"] > 1:
            notes.append(f"{name} uses {tr['idle_cpu_pct']}% of a core while idle")
        for tn, e in tr["tests"].items():
            other = e["summary"]["other_cpu0_pct"]
            if other is not None and other > 5:
                notes.append(
                    f"{name} {tn}: other processes used {other:.0f}% of the gateway's core "
                    "(median): the machine was not quiet"
                )
            busy = e["summary"]["cpu_busy_pct"]
            tcpu = e["summary"]["target_cpu_pct"]
            if (busy.get(f"cpu{args.load_cpus}") or 0) > 95 and tcpu is not None and tcpu < 90:
                notes.append(
                    f"{name} {tn}: the load side (cpu{args.load_cpus}: wrk + mock) was saturated "
                    f"while the gateway used {tcpu:.0f}% of its core: the RPS is the load "
                    "generator's limit; compare CPU µs/req"
                )
            co = e["summary"]["co_inflation"]
            if co is not None and co > 1.2:
                notes.append(
                    f"{name} {tn}: wrk's latency histogram is {co:.1f}x what the requests "
                    "could have taken: its coordinated-omission correction filled in for stalls "
                    f"(max {e['summary']['max_ms']:.0f} ms); its p99 counts them per request "
                    "that would have been sent meanwhile"
                )
            extra = e["summary"]["extra_upstream"]
            if extra > 0.01 * e["summary"]["ok"]:
                notes.append(
                    f"{name} {tn}: {extra} more upstream requests than completed ones "
                    "(retries? errors?)"
                )
    m = results["meta"]["machine"]
    print(f"\n## Gateway benchmark ({m['date']}, {m['cpu']}, {m['cpus']} CPUs, {m['kernel']})\n")
    print(
        f"gateways on cpu{args.target_cpus}"
        + (
            f" (ironplane: {args.workers} workers on cpus {args.target_cpus},{args.load_cpus})"
            if args.workers > 1
            else ""
        )
        + f", wrk + mock on cpu{args.load_cpus}; medians of "
        f"{args.runs} x {args.duration:g}s interleaved rounds; "
        f"request {len(request_body(stream=False))} B, "
        f"reply {REPLY_SIZE} B, stream {N_CHUNKS} chunks; CPU = utime+stime of the target's "
        "process tree per completed request\n"
    )
    print(table)
    if notes:
        print("\nNotes:\n" + "\n".join(f"- {n}" for n in notes))
    results["notes"] = notes
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
