"""The gateway configuration's checks beyond its types: names, references, URLs, limits,
governance and the control-plane section. ``check`` returns every problem (unlocated: the
loader locates them by field path); ``warnings`` what is allowed but probably a mistake."""

from __future__ import annotations

import re
import ssl
from urllib.parse import urlsplit

from ironplane.core.diagnostics import Diagnostic, closest
from ironplane.gateway import redact
from ironplane.gateway.config import (
    _HASH_RE,
    _NAME_RE,
    _TOKEN_ID_RE,
    MAX_COLD_START_S,
    Config,
    ControlPlane,
    RedisSettings,
)


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
