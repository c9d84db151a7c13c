"""Providers and targets: where a request goes and the bytes that open it.

Each target precomputes, per endpoint, the request head it sends upstream (request line, host,
credentials, content type), so that sending a request is one concatenation: head, body length,
body. OpenAI-compatible and Azure targets pass the client's body through untouched (only the
``model`` field is rewritten when the target's upstream name differs); Anthropic targets
translate chat completions to the Messages API.
"""

from __future__ import annotations

import random
import ssl
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

import msgspec

from ironplane.gateway.config import Model, Provider, Target

if TYPE_CHECKING:
    from ironplane.gateway.upstream import Pool

CHAT, COMPLETIONS, EMBEDDINGS = 0, 1, 2
ENDPOINTS = {
    b"/v1/chat/completions": CHAT,
    b"/v1/completions": COMPLETIONS,
    b"/v1/embeddings": EMBEDDINGS,
}
_SUFFIX = ("chat/completions", "completions", "embeddings")

_decode_fields = msgspec.json.Decoder(dict[str, msgspec.Raw]).decode
_encode = msgspec.json.Encoder().encode


def rewrite_model(body: bytes, model: str) -> bytes:
    """The body with its top-level ``model`` replaced; every other field's bytes kept as sent."""
    fields = _decode_fields(body)
    fields["model"] = msgspec.Raw(_encode(model))
    return _encode(fields)


class Upstream:
    """One provider as the gateway talks to it: address, TLS and credentials."""

    def __init__(self, provider: Provider, secret: str | None) -> None:
        url = urlsplit(provider.base_url)
        self.name = provider.name
        self.kind = provider.kind
        # Whether a stream may be asked for its usage (``stream_options``): Azure refuses the
        # field before API version 2024-09-01 (a 400), so older versions keep the estimate.
        self.stream_usage = provider.kind == "openai" or (
            provider.kind == "azure" and (provider.api_version or "") >= AZURE_STREAM_USAGE
        )
        self.tls = url.scheme == "https"
        self.host = url.hostname or ""
        self.port = url.port or (443 if self.tls else 80)
        default = (self.port == 443) if self.tls else (self.port == 80)
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.authority = host if default else f"{host}:{self.port}"
        self.base_path = url.path.rstrip("/")
        self.ca_file = provider.ca_file
        self.max_connections = provider.max_connections
        self.connect_timeout = float(provider.connect_timeout)
        self.api_version = provider.api_version or ""
        lines = [f"Host: {self.authority}", "Content-Type: application/json"]
        if secret:
            if self.kind == "azure":
                lines.append(f"api-key: {secret}")
            elif self.kind == "anthropic":
                lines.append(f"x-api-key: {secret}")
            else:
                lines.append(f"Authorization: Bearer {secret}")
        if self.kind == "anthropic":
            lines.append("anthropic-version: 2023-06-01")
        lines += [f"{k}: {v}" for k, v in provider.headers.items()]
        self._headers = "".join(line + "\r\n" for line in lines).encode("latin-1")

    @property
    def address(self) -> tuple[bool, str, int]:
        return (self.tls, self.host, self.port)

    def ssl_context(self) -> ssl.SSLContext | None:
        return ssl.create_default_context(cafile=self.ca_file) if self.tls else None

    def path(self, endpoint: int, model: str) -> str:
        if self.kind == "azure":
            deployment = quote(model, safe="")
            return (
                f"{self.base_path}/openai/deployments/{deployment}/{_SUFFIX[endpoint]}"
                f"?api-version={quote(self.api_version, safe='')}"
            )
        if self.kind == "anthropic":
            base = self.base_path if self.base_path.endswith("/v1") else self.base_path + "/v1"
            return f"{base}/messages"
        return f"{self.base_path}/{_SUFFIX[endpoint]}"

    def head(self, endpoint: int, model: str) -> bytes:
        """Everything up to the Content-Length value."""
        line = f"POST {self.path(endpoint, model)} HTTP/1.1\r\n".encode("latin-1")
        return line + self._headers + b"Content-Length: "


AZURE_STREAM_USAGE = "2024-09-01"
"""The first Azure OpenAI API version that takes ``stream_options.include_usage``."""


class TargetState:
    """One target of one model, with the health and latency the router keeps for it."""

    __slots__ = (
        "cooled_until",
        "ewma",
        "failures",
        "heads",
        "label",
        "model",
        "pool",
        "probing",
        "rewrite",
        "translate",
        "upstream",
        "weight",
    )

    def __init__(self, target: Target, upstream: Upstream, route_name: str) -> None:
        self.upstream = upstream
        self.model = target.model
        self.weight = target.weight
        self.label = f"{upstream.name}/{target.model}"
        self.translate = upstream.kind == "anthropic"
        # Azure takes the deployment from the URL and ignores the body's model.
        self.rewrite = upstream.kind == "openai" and target.model != route_name
        self.heads = tuple(upstream.head(e, target.model) for e in (CHAT, COMPLETIONS, EMBEDDINGS))
        self.ewma: float | None = None
        self.failures = 0
        self.cooled_until = 0.0
        self.probing = False
        self.pool: Pool | None = None

    def available(self, now: float, threshold: int) -> bool:
        if self.failures < threshold:
            return True
        return now >= self.cooled_until and not self.probing

    def succeeded(self, latency: float) -> None:
        self.failures = 0
        self.probing = False
        self.ewma = latency if self.ewma is None else self.ewma + 0.3 * (latency - self.ewma)

    def failed(self, now: float, threshold: int, cooldown: float) -> None:
        self.failures += 1
        self.probing = False
        if self.failures >= threshold:
            self.cooled_until = now + cooldown

    def carry(self, old: TargetState) -> None:
        """Keep health and latency across a reload of an unchanged target."""
        self.ewma, self.failures, self.cooled_until = old.ewma, old.failures, old.cooled_until


class Route:
    """A model clients name: its targets, strategy, retries, timeouts and fallbacks."""

    __slots__ = (
        "cold_start",
        "fallbacks",
        "idle_timeout",
        "limit",
        "name",
        "retries",
        "strategy",
        "targets",
        "timeout",
        "total_weight",
    )

    def __init__(self, model: Model, upstreams: dict[str, Upstream]) -> None:
        from ironplane.gateway.limits import Limit

        self.name = model.name
        self.targets = [TargetState(t, upstreams[t.provider], model.name) for t in model.targets]
        self.strategy = model.strategy
        self.retries = model.retries
        self.timeout = float(model.timeout)
        self.idle_timeout = float(model.idle_timeout)
        self.cold_start = float(model.cold_start or 0.0)
        """0: no hold (a starting target fails like any other)."""
        self.fallbacks = tuple(model.fallbacks)
        self.total_weight = sum(t.weight for t in self.targets)
        self.limit: Limit | None = None

    def pick(
        self, now: float, threshold: int, tried: list[TargetState] | None
    ) -> TargetState | None:
        """The target for the next attempt; None when every one is cooling down.

        Targets already tried in this request are avoided while others are available.
        """
        targets = self.targets
        if len(targets) == 1:
            only = targets[0]
            return only if only.available(now, threshold) else None
        ready = [t for t in targets if t.available(now, threshold)]
        if tried:
            fresh = [t for t in ready if t not in tried]
            ready = fresh or ready
        if not ready:
            return None
        if self.strategy == "priority":
            return ready[0]
        if self.strategy == "least_latency":
            unmeasured = [t for t in ready if t.ewma is None]
            if unmeasured:
                return unmeasured[0]
            if random.random() < 0.05:
                return random.choice(ready)
            return min(ready, key=_ewma)
        total = sum(t.weight for t in ready) if len(ready) != len(targets) else self.total_weight
        point = random.random() * total
        for t in ready:
            point -= t.weight
            if point < 0:
                return t
        return ready[-1]


def _ewma(t: TargetState) -> float:
    return t.ewma if t.ewma is not None else 0.0
