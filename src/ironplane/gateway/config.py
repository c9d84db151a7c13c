"""The gateway's configuration file: typed, validated at load, every problem located by line.

Loading either returns a complete :class:`Config` with every provider's API key resolved, or
raises :class:`~ironplane.core.errors.ConfigError` listing every problem found; the running
gateway keeps its old configuration when a reload fails.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
import yaml

from ironplane.core.diagnostics import Diagnostic, closest
from ironplane.core.errors import ConfigError
from ironplane.yamlsource import SourceMap, read_documents

KEY_HASH_PREFIX = "sha256:"
_HASH_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
_TOKEN_ID_RE = re.compile(r"^[0-9a-f]{16}$")
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,127}$")
MAX_COLD_START_S = 1800.0
"""Longest ``cold_start``: a held request keeps its client connection open all that time."""


class Seconds(float):
    """A duration in seconds: a number, or ``500ms``, ``30s``, ``2m``, ``1h``."""


def _decode(kind: type, value: Any) -> Any:
    if kind is Seconds:
        if isinstance(value, int | float) and not isinstance(value, bool):
            seconds = float(value)
        elif isinstance(value, str) and (m := _DURATION_RE.match(value)):
            seconds = float(m.group(1)) * _UNITS[m.group(2)]
        else:
            raise ValueError(f"{value!r} is not a duration; write e.g. 30s, 500ms, 2m or 1h")
        if not math.isfinite(seconds) or seconds <= 0:
            raise ValueError(f"{value!r}: a duration must be greater than zero")
        return Seconds(seconds)
    raise NotImplementedError


class _Strict(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class SecretRef(_Strict):
    """Where a provider's API key comes from: an environment variable or a file."""

    env: str | None = None
    file: str | None = None

    def __post_init__(self) -> None:
        if (self.env is None) == (self.file is None):
            raise ValueError("give exactly one of `env` (a variable name) or `file` (a path)")


class Provider(_Strict):
    name: str
    kind: Literal["openai", "azure", "anthropic"]
    base_url: str
    api_key: SecretRef | None = None
    api_version: str | None = None
    """Azure only: the ``api-version`` query parameter."""
    headers: dict[str, str] = {}
    """Extra static headers sent upstream (e.g. ``OpenAI-Organization``)."""
    max_connections: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 1024
    connect_timeout: Seconds = Seconds(5)
    ca_file: str | None = None
    """PEM bundle to verify an https upstream with (default: the system's trust store)."""


class Target(_Strict):
    provider: str
    model: str
    """The model name the upstream knows (for Azure: the deployment name)."""
    weight: Annotated[float, msgspec.Meta(gt=0)] = 1.0


class Limits(_Strict):
    rpm: Annotated[int, msgspec.Meta(ge=1)] | None = None
    """Requests per minute."""
    tpm: Annotated[int, msgspec.Meta(ge=1)] | None = None
    """Tokens (prompt + completion) per minute."""
    concurrency: Annotated[int, msgspec.Meta(ge=1)] | None = None
    """Requests in flight at once."""

    def any(self) -> bool:
        return bool(self.rpm or self.tpm or self.concurrency)


class Budget(_Strict):
    """Spend allowed per UTC day and per UTC month, in USD (see ``prices``)."""

    daily: Annotated[float, msgspec.Meta(ge=0)] | None = None
    monthly: Annotated[float, msgspec.Meta(ge=0)] | None = None


class Price(_Strict):
    """USD per million tokens."""

    input: Annotated[float, msgspec.Meta(ge=0)] = 0.0
    output: Annotated[float, msgspec.Meta(ge=0)] = 0.0


class Team(_Strict):
    name: str
    limits: Limits | None = None
    budget: Budget | None = None


class KeyDefaults(_Strict):
    """Limits and budget of keys that have none of their own (e.g. the control plane's)."""

    limits: Limits | None = None
    budget: Budget | None = None


class RedisSettings(_Strict):
    """Shared limits and spend across replicas (``redis_limits.py``)."""

    url: str
    """``redis://[user:password@]host[:port][/db]`` (``rediss://`` for TLS)."""
    prefix: str = "ipgw:"
    timeout: Seconds = Seconds(0.05)
    """Longest wait for an answer before this replica falls back to local limits."""
    replicas: Annotated[int, msgspec.Meta(ge=1, le=10_000)] | None = None
    """Replicas sharing the limits, for the local fallback's share (default: counted from
    their heartbeats in Redis)."""


class Model(_Strict):
    name: str
    targets: Annotated[list[Target], msgspec.Meta(min_length=1)]
    strategy: Literal["weighted", "least_latency", "priority"] = "weighted"
    retries: Annotated[int, msgspec.Meta(ge=0, le=10)] = 1
    """Further attempts after the first fails (on another target where there is one)."""
    timeout: Seconds = Seconds(60)
    """Upstream time to the response headers, per attempt."""
    idle_timeout: Seconds = Seconds(120)
    """Longest silence between two pieces of a streamed response."""
    fallbacks: list[str] = []
    limits: Limits | None = None
    cold_start: Seconds | None = None
    """How long a request may wait for a target that is starting (scaled to zero): refused or
    timed-out connections and 502/503 answers are retried with backoff until this much time has
    passed since the request arrived, before retries, fallbacks and cooldown apply."""


class Key(_Strict):
    name: str
    hash: str
    """``sha256:`` and the hex SHA-256 of the key (``ironplane gateway hash-key`` prints it); for
    an Ironplane token (``token_id`` set), of the secret part after ``ipt_<token_id>_``."""
    token_id: str | None = None
    """An Ironplane API token's id (16 hex digits): the bearer ``ipt_<token_id>_<secret>`` is
    found by it, and several tokens of one principal may share the ``name``."""
    expires_at: float | None = None
    """Unix time from which the token is refused (Ironplane tokens)."""
    models: list[str] = msgspec.field(default_factory=lambda: ["*"])
    limits: Limits | None = None
    team: str | None = None
    budget: Budget | None = None


class Settings(_Strict):
    """Switches and limits of the gateway process itself."""

    auth: bool = True
    limits: bool = True
    metrics: bool = True
    max_body_bytes: Annotated[int, msgspec.Meta(ge=1024, le=1 << 30)] = 4 << 20
    request_timeout: Seconds = Seconds(30)
    """A client must send a whole request within this time (408 otherwise)."""
    keepalive_timeout: Seconds = Seconds(75)
    cooldown_failures: Annotated[int, msgspec.Meta(ge=1)] = 3
    """Consecutive failures after which a target is cooled down."""
    cooldown: Seconds = Seconds(30)
    """How long a failing target rests before one probe request is let through."""
    shutdown_grace: Seconds = Seconds(30)


class ControlPlane(_Strict):
    """Where the gateway gets its snapshot (models, keys) and ships request logs to."""

    url: str
    token: SecretRef
    """The bearer token of a principal with ``gateway.serve`` (``{env: VAR}`` or ``{file: F}``)."""
    refresh: Seconds = Seconds(10)
    usage_batch: Annotated[int, msgspec.Meta(ge=1, le=5000)] = 500
    """Records per POST (and the count that triggers one before ``usage_flush``)."""
    usage_buffer: Annotated[int, msgspec.Meta(ge=1, le=10_000_000)] = 10_000
    """Records a worker keeps while the control plane cannot take them; then the oldest go."""
    usage_flush: Seconds = Seconds(2)
    max_stale: Seconds | None = None
    """How long the gateway may go without reaching the control plane (a refresh that got its
    snapshot or a 304) before it refuses the control plane's keys: a token revoked there stays
    usable at most this long. Unset: keep serving the last snapshot however old (file keys
    always work)."""


class Config(_Strict, kw_only=True):
    gateway: Settings = msgspec.field(default_factory=Settings)
    providers: list[Provider] = []
    """At least one, unless ``control_plane`` serves them (checked in ``_check``)."""
    models: list[Model] = []
    keys: list[Key] = []
    control_plane: ControlPlane | None = None
    redis: RedisSettings | None = None
    teams: list[Team] = []
    prices: dict[str, Price] = {}
    """USD per million tokens by gateway model name; ``*`` for every other model."""
    key_defaults: KeyDefaults | None = None


class Loaded(msgspec.Struct, frozen=True):
    """A validated configuration with what it needs from outside the file."""

    config: Config
    secrets: dict[str, str]
    """Provider name -> resolved API key. Never logged."""
    source: str
    digest: str
    """SHA-256 of the file's bytes: tells whether a reload changes anything."""
    control_plane_token: str | None = None
    """The resolved ``control_plane.token``. Never logged."""
    snapshot: str | None = None
    """The version of the control plane's snapshot merged in (``snapshot.py``), if any."""
    file_keys: int | None = None
    """With a snapshot merged in: ``config.keys[:file_keys]`` are the file's, the rest the
    control plane's (refused once it is out of reach longer than ``max_stale``)."""


def hash_key(key: str) -> str:
    """The form a key is stored in: ``sha256:<hex>``."""
    return KEY_HASH_PREFIX + hashlib.sha256(key.encode()).hexdigest()


_PATH_RE = re.compile(r" - at `\$(.*)`$")
_PART_RE = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")


def _msgspec_problem(
    exc: msgspec.ValidationError, where: SourceMap, base: tuple[str | int, ...] = ()
) -> Diagnostic:
    text = str(exc)
    path: tuple[str | int, ...] = base
    m = _PATH_RE.search(text)
    if m:
        text = text[: m.start()]
        path = base + tuple(
            name if name else int(index) for name, index in _PART_RE.findall(m.group(1))
        )
    unknown = re.match(r"Object contains unknown field `(.+)`$", text)
    if unknown:
        field = unknown.group(1)
        allowed = _fields_at(path)
        hint = closest(field, allowed) if allowed else None
        if sorted(allowed) == ["env", "file"]:
            # Where a secret is referred to, a stray key may be the secret itself (`{sk-...}`).
            return where.locate(
                Diagnostic(
                    "unknown field (not shown: it may be a secret)",
                    path=path,
                    allowed="env (a variable name) or file (a path)",
                    hint="never write a secret into the file: `{env: VAR}` or `{file: PATH}`",
                ),
            )
        return where.locate(
            Diagnostic(
                f"unknown field {field!r}",
                path=(*path, field),
                allowed=", ".join(sorted(allowed)) or None,
                hint=f"did you mean {hint!r}?" if hint else None,
            ),
            key=True,
        )
    return where.locate(Diagnostic(text[0].lower() + text[1:] if text else text, path=path))


def _fields_at(path: tuple[str | int, ...]) -> list[str]:
    """The field names allowed at ``path`` (for a did-you-mean hint)."""
    kind: Any = Config
    for part in path:
        if isinstance(part, int):
            continue
        hint = msgspec.structs.fields(kind)
        match = next((f for f in hint if f.name == part), None)
        if match is None:
            return []
        kind = _struct_of(match.type)
        if kind is None:
            return []
    return [f.name for f in msgspec.structs.fields(kind)]


def _struct_of(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _struct_of(arg)
        if found is not None:
            return found
    return None


def load(path: str | Path, environ: dict[str, str] | None = None) -> Loaded:
    """Read, validate and resolve a configuration file; raises ConfigError on any problem."""
    source = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(
            [Diagnostic(f"cannot read the configuration: {exc.strerror or exc}", source=source)]
        ) from None
    return parse(raw, source, os.environ if environ is None else environ)


def parse(raw: bytes, source: str, environ: Any) -> Loaded:
    try:
        text = raw.decode("utf-8")
        docs = list(read_documents(text, source))
    except UnicodeDecodeError:
        raise ConfigError([Diagnostic("the file is not UTF-8 text", source=source)]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        raise ConfigError(
            [
                Diagnostic(
                    f"not valid YAML: {exc.problem}",
                    source=source,
                    line=mark.line + 1 if mark else None,
                    column=mark.column + 1 if mark else None,
                )
            ]
        ) from None
    if len(docs) != 1 or not isinstance(docs[0].data, dict):
        raise ConfigError(
            [
                Diagnostic(
                    "the configuration must be one YAML mapping",
                    source=source,
                    hint="top-level keys: gateway, providers, models, keys",
                )
            ]
        )
    doc = docs[0]
    if doc.problems:
        raise ConfigError(list(doc.problems))
    _check_prices(doc.data.get("prices"), doc.where)
    try:
        config = msgspec.convert(doc.data, Config, dec_hook=_decode)
    except msgspec.ValidationError as exc:
        raise ConfigError([_msgspec_problem(exc, doc.where)]) from None
    from ironplane.gateway.config_checks import check  # the checks import these structs

    problems = [doc.where.locate(p) for p in check(config)]
    secrets: dict[str, str] = {}
    for i, provider in enumerate(config.providers):
        try:
            secret = _secret(provider, environ)
        except ValueError as exc:
            problems.append(
                doc.where.locate(Diagnostic(str(exc), path=("providers", i, "api_key")))
            )
            continue
        if secret is not None:
            secrets[provider.name] = secret
    token = None
    if config.control_plane is not None:
        try:
            token = _resolve(config.control_plane.token, environ, "token")
        except ValueError as exc:
            problems.append(doc.where.locate(Diagnostic(str(exc), path=("control_plane", "token"))))
    if problems:
        raise ConfigError(problems, summary=f"{source}: {len(problems)} problem(s)")
    return Loaded(config, secrets, source, hashlib.sha256(raw).hexdigest(), token)


def _check_prices(prices: Any, where: SourceMap) -> None:
    """Each price on its own first: msgspec's path does not name the entry of a mapping."""
    if not isinstance(prices, dict):
        return
    for name, entry in prices.items():
        try:
            msgspec.convert(entry, Price)
        except msgspec.ValidationError as exc:
            raise ConfigError([_msgspec_problem(exc, where, ("prices", str(name)))]) from None


def _secret(provider: Provider, environ: Any) -> str | None:
    ref = provider.api_key
    if ref is None:
        return None
    return _resolve(ref, environ, "API key")


def _resolve(ref: SecretRef, environ: Any, what: str) -> str:
    if ref.env is not None:
        value = environ.get(ref.env)
        if not value:
            raise ValueError(f"the environment variable {ref.env} is not set (or empty)")
    else:
        assert ref.file is not None
        try:
            value = Path(ref.file).read_text().strip()
        except OSError as exc:
            raise ValueError(f"cannot read {ref.file}: {exc.strerror or exc}") from None
        if not value:
            raise ValueError(f"{ref.file} is empty")
    if any(c in value for c in "\r\n\0") or not value.isascii():
        raise ValueError(
            f"the {what} contains a line break, NUL or non-ASCII character; check the variable "
            "or file"
        )
    return str(value)
