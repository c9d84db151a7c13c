"""The control plane's snapshot: checked like a config file, merged with the file, kept on disk.

The snapshot (``GET /api/v1/gateway/snapshot``) carries providers, models and keys in the config
file's own field names, so it is decoded into the same structs and goes through the same checks
(``config.check``): a bad snapshot is refused whole and the last good one keeps serving. The
file's entries win on a name clash (an operator's static entry overrides what the control
plane generates), and a snapshot cannot make the gateway read its host's secrets or files
(``api_key``, ``ca_file``).

The fetcher (the supervisor, or a thread of a single worker, see ``source.py``) keeps the last
good snapshot and its status as two files in a :class:`Store`; every worker watches them as it
watches its config file and merges the snapshot into its own reload, so all workers apply the
same snapshot and a swap is as atomic as a file reload: requests in flight finish on the state
they started with.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import re
import time
from pathlib import Path
from typing import Literal

import msgspec

from ironplane.core.diagnostics import Diagnostic
from ironplane.core.errors import ConfigError, UnavailableError
from ironplane.gateway.config import Config, Key, Loaded, Model, Provider, _decode
from ironplane.gateway.config_checks import check

_VERSION_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
"""A version also goes back in ``If-None-Match``: no quotes, spaces or line breaks."""


class NoSnapshotError(UnavailableError):
    """Control-plane mode, and no snapshot has arrived yet: models and keys are not known."""

    code = "no_snapshot"


class _Config(msgspec.Struct, kw_only=True):
    # Unknown sections are ignored (a newer control plane may add some); entries are strict.
    providers: list[Provider] = []
    models: list[Model] = []
    keys: list[Key] = []


class _Body(msgspec.Struct, kw_only=True):
    version: str
    config: _Config
    generated_at: str | None = None


_decoder = msgspec.json.Decoder(_Body, dec_hook=_decode)


class Snapshot(msgspec.Struct, frozen=True):
    version: str
    providers: list[Provider]
    models: list[Model]
    keys: list[Key]
    generated_at: str | None = None


def decode(body: bytes, control_plane: Config, *, checked: bool = False) -> Snapshot:
    """Decode and check a snapshot on its own; ConfigError names every problem by field path.

    ``control_plane`` is the file's configuration: its ``control_plane`` section makes the check
    accept a snapshot without models or keys (a cluster with no Model yet). ``checked``: the
    body is one the fetcher checked before storing it (a worker's reload), so only decoding
    is left; :func:`merge` still checks the whole result.
    """
    source = "control plane snapshot"
    try:
        body_ = _decoder.decode(body)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise ConfigError([Diagnostic(f"not a gateway snapshot: {exc}", source=source)]) from None
    version = body_.version
    if not _VERSION_RE.match(version):
        raise ConfigError(
            [Diagnostic(f"{version[:80]!r} is not a snapshot version", path=("version",))]
        )
    source = f"control plane snapshot {version[:12]}"
    cfg = body_.config
    if checked:
        return Snapshot(version, cfg.providers, cfg.models, cfg.keys, body_.generated_at)
    problems: list[Diagnostic] = []
    for i, p in enumerate(cfg.providers):
        for name in ("api_key", "ca_file"):
            if getattr(p, name) is not None:
                problems.append(
                    Diagnostic(
                        f"a provider from the control plane cannot set `{name}`: it would read "
                        "the gateway host's environment or files",
                        path=("config", "providers", i, name),
                        hint="define such a provider in the gateway's config file instead",
                    )
                )
    alone = msgspec.structs.replace(
        control_plane, providers=cfg.providers, models=cfg.models, keys=cfg.keys
    )
    problems += [dataclasses.replace(d, path=("config", *d.path)) for d in check(alone) if _own(d)]
    if problems:
        raise ConfigError(
            [d if d.source else d.located(source, None, None) for d in problems],
            summary=f"{source}: refused, {len(problems)} problem(s)",
        )
    return Snapshot(version, cfg.providers, cfg.models, cfg.keys, body_.generated_at)


def _own(d: Diagnostic) -> bool:
    """A problem of the snapshot's entries (not of the file sections copied beside them)."""
    return bool(d.path) and d.path[0] in ("providers", "models", "keys")


class Merged(msgspec.Struct, frozen=True):
    loaded: Loaded
    clashes: list[str]
    """``models 'gpt'``-style names of snapshot entries the file's entries replaced."""


def merge(file: Loaded, snap: Snapshot) -> Merged:
    """The file's configuration with the snapshot's entries added; file entries win a clash.

    Raises ConfigError when the result fails the checks (e.g. a file model's fallback is fine,
    but a snapshot key's token id equals one of the file's).
    """
    c = file.config
    clashes: list[str] = []
    names = {p.name for p in c.providers}
    providers = list(c.providers)
    for p in snap.providers:
        if p.name in names:
            clashes.append(f"providers {p.name!r}")
        else:
            providers.append(p)
    names = {m.name for m in c.models}
    models = list(c.models)
    for m in snap.models:
        if m.name in names:
            clashes.append(f"models {m.name!r}")
        else:
            models.append(m)
    names = {k.name for k in c.keys}
    ids = {k.token_id for k in c.keys if k.token_id is not None}
    keys = list(c.keys)
    for k in snap.keys:
        if k.name in names or k.token_id in ids:
            label = f"keys {k.name!r}"
            if label not in clashes:
                clashes.append(label)
        else:
            keys.append(k)
    config = msgspec.structs.replace(c, providers=providers, models=models, keys=keys)
    problems = check(config)
    source = f"{file.source} + control plane snapshot {snap.version[:12]}"
    if problems:
        raise ConfigError(
            [d.located(source, None, None) for d in problems],
            summary=f"{source}: refused, {len(problems)} problem(s)",
        )
    digest = hashlib.sha256(f"{file.digest}\0{snap.version}".encode()).hexdigest()
    loaded = msgspec.structs.replace(
        file,
        config=config,
        source=source,
        digest=digest,
        snapshot=snap.version,
        file_keys=len(c.keys),
    )
    return Merged(loaded, clashes)


class Status(msgspec.Struct, kw_only=True):
    """What the fetcher knows about the control plane, for /healthz and metrics."""

    state: Literal["ok", "stale", "never"] = "never"
    """``ok``: the last refresh succeeded; ``stale``: it failed (or its snapshot was refused)
    and the last good snapshot serves; ``never``: no snapshot yet."""
    version: str | None = None
    """The snapshot serving now."""
    checked_at: float | None = None
    """Unix time of the last refresh that reached the control plane and was accepted."""
    error: str | None = None


def snapshot_age(status: Status) -> float | None:
    """Seconds since the control plane last confirmed the snapshot (None: never reached)."""
    if status.checked_at is None:
        return None
    return max(0.0, time.time() - status.checked_at)


class Store:
    """The last good snapshot (the response body) and the fetcher's status, as two files.

    Written by the fetcher atomically (write, then rename); read by every worker when their
    size or modification time changes.
    """

    def __init__(self, directory: str | Path) -> None:
        self.dir = Path(directory)
        self.snapshot_path = self.dir / "snapshot.json"
        self.status_path = self.dir / "control-plane.json"

    def write_snapshot(self, body: bytes) -> None:
        _write(self.snapshot_path, body)

    def write_status(self, status: Status) -> None:
        _write(self.status_path, msgspec.json.encode(status))

    def read_snapshot(self) -> bytes | None:
        try:
            return self.snapshot_path.read_bytes()
        except OSError:
            return None

    def read_status(self) -> Status | None:
        with contextlib.suppress(OSError, msgspec.DecodeError, msgspec.ValidationError):
            return msgspec.json.decode(self.status_path.read_bytes(), type=Status)
        return None

    def stamp(self, path: Path) -> tuple[int, int, int]:
        """Changes with every write (each is a new file: a new inode)."""
        try:
            st = path.stat()
        except OSError:
            return (0, 0, 0)
        return (st.st_ino, st.st_mtime_ns, st.st_size)


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
