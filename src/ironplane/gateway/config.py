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
import ssl
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import msgspec
import yaml

from ironplane.core.diagnostics import Diagnostic, closest
from ironplane.core.errors import ConfigError
from ironplane.gateway import redact
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
    problems = [doc.where.locate(p) for p in _check(config)]
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


def _duplicates(names: list[str], section: str) -> list[Diagnostic]:
    seen: dict[str, int] = {}
    out = []
    for i, name in enumerate(names):
        if name in seen:
            out.append(
                Diagnostic(
                    f"duplicate name {name!r} (also {section}[{seen[name]}])",
                    path=(section, i, "name"),
                )
            )
        seen.setdefault(name, i)
    return out


def _bad_header(text: str) -> bool:
    return any(c in text for c in "\r\n\0")


def check(config: Config) -> list[Diagnostic]:
    """Every problem of a decoded configuration (unlocated); the snapshot's merge uses it too."""
    return _check(config)


def _check(config: Config) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    served = config.control_plane is not None
    """With a control plane, providers, models and keys may come from its snapshot, so none is
    required and a key's models or a model's fallbacks may name models the snapshot serves."""
    if not served:
        for section, what in (("providers", "provider"), ("models", "model")):
            if not getattr(config, section):
                out.append(
                    Diagnostic(
                        f"expected `array` of length >= 1: the gateway needs at least one {what}",
                        path=(section,),
                        hint="or add a `control_plane` section: its snapshot serves them",
                    )
                )
    else:
        out += _check_control_plane(config.control_plane)
    out += _duplicates([p.name for p in config.providers], "providers")
    out += _duplicates([m.name for m in config.models], "models")
    # Ironplane tokens of one principal share its name: only whole-key entries must differ.
    named: dict[str, int] = {}
    for i, k in enumerate(config.keys):
        if k.token_id is None:
            if k.name in named:
                out.append(
                    Diagnostic(
                        f"duplicate name {k.name!r} (also keys[{named[k.name]}])",
                        path=("keys", i, "name"),
                    )
                )
            named.setdefault(k.name, i)
    providers = {p.name: p for p in config.providers}
    models = {m.name for m in config.models}
    for section, names in (
        ("providers", [p.name for p in config.providers]),
        ("models", [m.name for m in config.models]),
        ("keys", [k.name for k in config.keys]),
    ):
        for i, name in enumerate(names):
            if not _NAME_RE.match(name):
                out.append(
                    Diagnostic(
                        f"{name!r} is not a valid name",
                        path=(section, i, "name"),
                        allowed="1-128 letters, digits and . _ : / @ + - (no spaces)",
                    )
                )
    for i, p in enumerate(config.providers):
        url = urlsplit(p.base_url)
        try:
            port_ok = url.port is None or url.port > 0
        except ValueError:
            port_ok = False
        if (
            url.scheme not in ("http", "https")
            or not url.hostname
            or url.query
            or url.fragment
            or not port_ok
            or not url.path.isascii()
        ):
            out.append(
                Diagnostic(
                    f"{redact.url(p.base_url)!r} is not an http(s) base URL",
                    path=("providers", i, "base_url"),
                    hint="e.g. http://vllm.models:8000/v1 or https://api.openai.com/v1",
                )
            )
        if p.kind == "azure" and not p.api_version:
            out.append(
                Diagnostic(
                    "an Azure OpenAI provider needs `api_version`",
                    path=("providers", i),
                    hint="e.g. api_version: 2024-10-21",
                )
            )
        if p.ca_file is not None:
            if url.scheme != "https":
                out.append(
                    Diagnostic("`ca_file` is for https upstreams", path=("providers", i, "ca_file"))
                )
            else:
                try:
                    ssl.create_default_context(cafile=p.ca_file)
                except (OSError, ssl.SSLError) as exc:
                    out.append(
                        Diagnostic(
                            f"cannot use {p.ca_file} as a CA bundle: {exc}",
                            path=("providers", i, "ca_file"),
                        )
                    )
        if p.kind != "azure" and p.api_version:
            out.append(
                Diagnostic("`api_version` is for Azure providers only", path=("providers", i))
            )
        for name, value in p.headers.items():
            if (
                _bad_header(name)
                or _bad_header(value)
                or ":" in name
                or not name.strip()
                or not (name + value).isascii()
            ):
                shown = name.partition(":")[0] + (":" + redact.MASK if ":" in name else "")
                out.append(
                    Diagnostic(
                        f"header {shown!r} is not a valid header name and value (the value "
                        "is not shown)",
                        path=("providers", i, "headers", shown),
                    )
                )
    for i, m in enumerate(config.models):
        if m.cold_start is not None and m.cold_start > MAX_COLD_START_S:
            out.append(
                Diagnostic(
                    f"cold_start of {m.cold_start:g}s is longer than the gateway holds a request",
                    path=("models", i, "cold_start"),
                    allowed=f"a duration up to {MAX_COLD_START_S / 60:g}m",
                    hint="size it for the polling interval + scrape interval + the model's "
                    "start-up time; clients that must wait longer should retry",
                )
            )
        for j, t in enumerate(m.targets):
            if t.provider not in providers:
                hint = closest(t.provider, providers)
                out.append(
                    Diagnostic(
                        f"unknown provider {t.provider!r}",
                        path=("models", i, "targets", j, "provider"),
                        allowed=", ".join(sorted(providers)),
                        hint=f"did you mean {hint!r}?" if hint else None,
                    )
                )
            elif providers[t.provider].kind == "azure" and "/" in t.model:
                out.append(
                    Diagnostic(
                        "an Azure deployment name cannot contain '/'",
                        path=("models", i, "targets", j, "model"),
                    )
                )
        for j, name in enumerate(m.fallbacks):
            if name == m.name:
                out.append(
                    Diagnostic(
                        "a model cannot fall back to itself", path=("models", i, "fallbacks", j)
                    )
                )
            elif name not in models and not served:
                out.append(
                    Diagnostic(
                        f"unknown model {name!r}",
                        path=("models", i, "fallbacks", j),
                        allowed=", ".join(sorted(models)),
                    )
                )
    hashes: dict[str, int] = {}
    token_ids: dict[str, int] = {}
    for i, k in enumerate(config.keys):
        if k.token_id is not None:
            if not _TOKEN_ID_RE.match(k.token_id):
                out.append(
                    Diagnostic(
                        f"{k.token_id!r} is not an Ironplane token id",
                        path=("keys", i, "token_id"),
                        allowed="16 lower-case hex digits (the <id> of ipt_<id>_<secret>)",
                    )
                )
            elif k.token_id in token_ids:
                out.append(
                    Diagnostic(
                        f"the same token as keys[{token_ids[k.token_id]}]",
                        path=("keys", i, "token_id"),
                    )
                )
            token_ids.setdefault(k.token_id, i)
        elif k.expires_at is not None:
            out.append(
                Diagnostic(
                    "`expires_at` is for Ironplane tokens (entries with `token_id`)",
                    path=("keys", i, "expires_at"),
                )
            )
        if not _HASH_RE.match(k.hash):
            out.append(
                Diagnostic(
                    "not a key hash",
                    path=("keys", i, "hash"),
                    allowed="sha256: followed by 64 lower-case hex digits",
                    hint="`ironplane gateway hash-key` prints the hash of a key; never store the "
                    "key itself",
                )
            )
        elif k.token_id is not None:
            pass  # the hash of a token's secret part: the token_id tells tokens apart
        elif k.hash in hashes:
            out.append(
                Diagnostic(
                    f"the same key as keys[{hashes[k.hash]}]",
                    path=("keys", i, "hash"),
                    hint="give every client its own key",
                )
            )
        if k.token_id is None:
            hashes.setdefault(k.hash, i)
        for j, name in enumerate(k.models):
            if name != "*" and name not in models and not served:
                out.append(
                    Diagnostic(
                        f"unknown model {name!r}",
                        path=("keys", i, "models", j),
                        allowed="* or one of: " + ", ".join(sorted(models)),
                    )
                )
    if config.gateway.auth and not config.keys and not served:
        out.append(
            Diagnostic(
                "no keys: with `gateway.auth` on (the default) every request would be refused",
                path=("keys",),
                hint="add a key (`ironplane gateway new-key` makes one), or set gateway.auth: "
                "false to serve without keys",
            )
        )
    out += _check_governance(config)
    return out


def _check_control_plane(cp: ControlPlane | None) -> list[Diagnostic]:
    if cp is None:
        return []
    out = []
    if cp.max_stale is not None and cp.max_stale < 2 * cp.refresh:
        out.append(
            Diagnostic(
                f"max_stale of {cp.max_stale:g}s is shorter than two refreshes "
                f"({cp.refresh:g}s each): one slow refresh would refuse every token",
                path=("control_plane", "max_stale"),
                allowed=f"a duration of at least {2 * cp.refresh:g}s",
                hint="e.g. 5m: how long a token revoked on the control plane may keep working "
                "while the gateway cannot reach it",
            )
        )
    url = urlsplit(cp.url)
    try:
        port_ok = url.port is None or url.port > 0
    except ValueError:
        port_ok = False
    if url.scheme not in ("http", "https") or not url.hostname or url.query or url.fragment:
        port_ok = False
    if not port_ok:
        out.append(
            Diagnostic(
                f"{redact.url(cp.url)!r} is not the control plane's http(s) URL",
                path=("control_plane", "url"),
                hint="e.g. http://127.0.0.1:8080 or https://ironplane.example.com",
            )
        )
    return out


_PREFIX_RE = re.compile(r"^[A-Za-z0-9._:/@+{}-]{0,64}$")


def _check_governance(config: Config) -> list[Diagnostic]:
    """``redis``, ``teams``, ``key_defaults`` and ``prices``: the shared limits and budgets."""
    out = _duplicates([t.name for t in config.teams], "teams")
    teams = {t.name for t in config.teams}
    for i, team in enumerate(config.teams):
        if not _NAME_RE.match(team.name):
            out.append(
                Diagnostic(
                    f"{team.name!r} is not a valid name",
                    path=("teams", i, "name"),
                    allowed="1-128 letters, digits and . _ : / @ + - (no spaces)",
                )
            )
    for i, k in enumerate(config.keys):
        # A token's team comes from the control plane: one without `teams` limits is a label.
        if k.team is not None and k.team not in teams and k.token_id is None:
            hint = closest(k.team, teams)
            out.append(
                Diagnostic(
                    f"unknown team {k.team!r}",
                    path=("keys", i, "team"),
                    allowed=", ".join(sorted(teams)) or "(no teams: add them under `teams:`)",
                    hint=f"did you mean {hint!r}?" if hint else None,
                )
            )
    if config.redis is not None:
        out += _check_redis(config.redis)
    return out


def _check_redis(redis: RedisSettings) -> list[Diagnostic]:
    out = []
    url = urlsplit(redis.url)
    try:
        port_ok = url.port is None or url.port > 0
    except ValueError:
        port_ok = False
    db = url.path.lstrip("/")
    if (
        url.scheme not in ("redis", "rediss")
        or not url.hostname
        or not port_ok
        or url.query
        or url.fragment
        or not (db == "" or db.isdigit())
    ):
        out.append(
            Diagnostic(
                f"{redact.url(redis.url)!r} is not a Redis URL",
                path=("redis", "url"),
                allowed="redis://[user:password@]host[:port][/db] or rediss://... (TLS)",
                hint="e.g. redis://127.0.0.1:6379/0",
            )
        )
    if not _PREFIX_RE.match(redis.prefix):
        out.append(
            Diagnostic(
                f"{redis.prefix!r} is not a usable key prefix",
                path=("redis", "prefix"),
                allowed="up to 64 letters, digits and . _ : / @ + - { } (no spaces)",
            )
        )
    if redis.timeout > 5:
        out.append(
            Diagnostic(
                f"a Redis timeout of {redis.timeout:g}s would hold every request that long "
                "while Redis hangs",
                path=("redis", "timeout"),
                allowed="a duration up to 5s",
                hint="50ms to 250ms: past it the replica uses its local limits",
            )
        )
    return out


def warnings(config: Config) -> list[str]:
    """What is allowed but probably a mistake: logged at load, printed by ``check``.

    A price for a model the file does not name is only a warning, because the control plane's
    snapshot may bring that model.
    """
    models = {m.name for m in config.models}
    out = []
    for name in config.prices:
        if name != "*" and name not in models:
            hint = closest(name, models)
            out.append(
                f"prices.{name}: no model {name!r} in this file (it costs nothing unless the "
                "control plane serves it)" + (f"; did you mean {hint!r}?" if hint else "")
            )
    return out
