"""What each gateway feature costs per request, timed in isolation (timeit, one process).

End to end, switching a feature off moves the CPU per request by less than the noise between
runs (see docs/benchmarks.md), so this script times the code each feature adds to a request:

- parse: the msgspec view of ``model``/``stream`` (always on);
- auth: SHA-256 of the bearer key and the dict lookup;
- limits: ``admit`` on a key limit and a model limit (rpm + tpm), then ``charge``;
- metrics: what ``Exchange._record`` does for one request (series lookup, status count, four
  histogram observations, tokens);
- routing: ``Route.pick`` with one target (the fast path) and with three weighted targets;
- usage: the msgspec view of ``usage`` in a 614-byte answer.

Run: ``taskset -c 0 .venv/bin/python bench/gateway/features.py``.
"""

from __future__ import annotations

import hashlib
import json
import timeit
from typing import Any

from ironplane.gateway.config import Model, Provider, Target
from ironplane.gateway.exchange import _usage
from ironplane.gateway.limits import Limit, admit, charge
from ironplane.gateway.metrics import Metrics
from ironplane.gateway.server import _view
from ironplane.gateway.targets import Route, Upstream

BODY = json.dumps(
    {
        "model": "mock-gpt",
        "messages": [
            {"role": "system", "content": "You are a helpful assistant. " * 4},
            {"role": "user", "content": "Explain the difference between TCP and UDP. " * 6},
        ],
        "temperature": 0.7,
        "max_tokens": 256,
        "user": "bench",
    }
).encode()
ANSWER = json.dumps(
    {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "mock-gpt",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "TCP is a stream... " * 20},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 120, "completion_tokens": 80, "total_tokens": 200},
    }
).encode()


def _route(n: int) -> Route:
    provider = Provider(name="mock", kind="openai", base_url="http://127.0.0.1:1/v1")
    model = Model(
        name="mock-gpt",
        targets=[Target(provider="mock", model=f"m{i}") for i in range(n)],
    )
    return Route(model, {"mock": Upstream(provider, None)})


def main() -> None:
    keys = {hashlib.sha256(f"sk-{i}".encode()).digest(): i for i in range(1000)}
    bearer = b"sk-500"
    key_limit = Limit("key", 10**12, 10**15, 1, 0.0)
    model_limit = Limit("model", 10**12, 10**15, 1, 0.0)
    metrics = Metrics()
    one, three = _route(1), _route(3)
    clock = [0.0]

    def record() -> None:
        series = metrics.of("mock-gpt", "mock/mock-gpt", "bench")
        series.statuses[200] = series.statuses.get(200, 0) + 1
        series.request.observe(0.0021)
        series.upstream.observe(0.002)
        series.overhead.observe(0.0001)
        series.ttft.observe(0.001)
        series.tokens_in += 120
        series.tokens_out += 80

    def limits() -> None:
        clock[0] += 1e-6
        admit(clock[0], key_limit, model_limit)
        charge(clock[0], 200, key_limit, model_limit)

    cases: dict[str, Any] = {
        "parse (msgspec view of model/stream)": lambda: _view(BODY),
        "auth (sha256 + dict lookup)": lambda: keys.get(hashlib.sha256(bearer).digest()),
        "limits (admit + charge, key and model)": limits,
        "metrics (one request's record)": record,
        "routing, 1 target": lambda: one.pick(1.0, 3, None),
        "routing, 3 weighted targets": lambda: three.pick(1.0, 3, None),
        "usage (msgspec view of the answer)": lambda: _usage(ANSWER),
    }
    print("| feature | µs per request |\n| --- | ---: |")
    for name, fn in cases.items():
        number = 200_000
        best = min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6
        print(f"| {name} | {best:.2f} |")


if __name__ == "__main__":
    main()
