"""The snapshot fetcher: one conditional GET every ``control_plane.refresh``, for all workers.

Each round re-reads the config file (its ``control_plane`` may have changed; a file that fails
its checks leaves the last good one in use), asks ``GET <url>/api/v1/gateway/snapshot`` with
``If-None-Match: "<version>"`` and

- on 200 checks the snapshot (``snapshot.decode``) and its merge with the file, then stores it
  for the workers; a snapshot that fails is refused, logged once per version, and the last good
  one keeps serving (the state turns ``stale``: what serves is not the control plane's current
  configuration);
- on 304 only notes that the control plane was reached (``ok``);
- on anything else (refused connection, timeout, 401/403, 5xx, a reply that is not a snapshot)
  keeps the last snapshot and marks the state ``stale`` (``never`` while there has been none).

With several workers the supervisor runs the rounds between its other chores and signals the
workers (SIGHUP, like a reload) when a new snapshot is stored; a single worker runs them in a
thread (:meth:`Source.run`). Nothing here is on the request path.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from ironplane.core.errors import ConfigError
from ironplane.gateway import config as config_file
from ironplane.gateway import redact
from ironplane.gateway.cpclient import ControlPlaneUnreachable, call
from ironplane.gateway.snapshot import Status, Store, decode, merge

log = logging.getLogger("ironplane.gateway")

SNAPSHOT_PATH = "/api/v1/gateway/snapshot"
TIMEOUT_S = 5.0
"""Per socket operation of one fetch; bounded by the refresh interval when that is shorter."""


class Source:
    def __init__(self, path: str | Path, loaded: config_file.Loaded, store: Store) -> None:
        self.path = Path(path)
        self.file = loaded
        """The last good config file (the fetch uses its ``control_plane``)."""
        self.store = store
        self.status = Status()
        self.version: str | None = None
        self._refused: str | None = None
        self._clashes: set[str] = set()
        self._error: str | None = None
        store.write_status(self.status)

    @property
    def interval(self) -> float:
        cp = self.file.config.control_plane
        return float(cp.refresh) if cp is not None else 10.0

    def refresh(self) -> bool:
        """One round; True when a new snapshot was stored (the workers should reload)."""
        # A file that fails its checks: the workers report it; fetch with the last good one.
        with contextlib.suppress(ConfigError):
            self.file = config_file.load(self.path)
        cp = self.file.config.control_plane
        token = self.file.control_plane_token
        if cp is None or token is None:
            return False
        headers = {"if-none-match": f'"{self.version}"'} if self.version else {}
        try:
            answer = call(
                "GET",
                cp.url,
                SNAPSHOT_PATH,
                token,
                headers=headers,
                timeout=min(TIMEOUT_S, max(1.0, float(cp.refresh))),
            )
        except ControlPlaneUnreachable as exc:
            self._failed(exc.message)
            return False
        if answer.status == 304 and self.version is not None:
            self._ok()
            return False
        if answer.status != 200:
            self._failed(_explain(answer.status, answer.body, cp.url))
            return False
        try:
            snap = decode(answer.body, self.file.config)
            merged = merge(self.file, snap)
        except ConfigError as exc:
            self._refuse(exc)
            return False
        for clash in merged.clashes:
            if clash not in self._clashes:
                self._clashes.add(clash)
                log.warning(
                    "the config file's %s replaces the control plane's entry of that name", clash
                )
        changed = snap.version != self.version
        if changed:
            self.store.write_snapshot(answer.body)
            log.info(
                "control plane snapshot %s applied (%d models, %d keys)",
                snap.version[:12],
                len(snap.models),
                len(snap.keys),
            )
        self.version = snap.version
        self._refused = None
        self._ok()
        return changed

    def _ok(self) -> None:
        if self._error is not None:
            log.info("the control plane answers again; snapshot %s", (self.version or "")[:12])
        self._error = None
        self._set(Status(state="ok", version=self.version, checked_at=time.time()))

    def _failed(self, error: str) -> None:
        if error != self._error:
            log.error(
                "control plane snapshot not refreshed, %s: %s",
                "serving the last one" if self.version else "no snapshot yet",
                error,
            )
        self._error = error
        self._set(
            Status(
                state="stale" if self.version else "never",
                version=self.version,
                checked_at=self.status.checked_at,
                error=error,
            )
        )

    def _refuse(self, exc: ConfigError) -> None:
        first = "; ".join(exc.message.splitlines())[:1000] or "refused"
        if first != self._refused:
            self._refused = first
            log.error(
                "control plane snapshot refused, %s:\n%s",
                "the last good one keeps serving" if self.version else "no snapshot yet",
                exc.message,
            )
        self._error = first
        self._set(
            Status(
                state="stale" if self.version else "never",
                version=self.version,
                checked_at=self.status.checked_at,
                error=first,
            )
        )

    def _set(self, status: Status) -> None:
        self.status = status
        try:
            self.store.write_status(status)
        except OSError as exc:  # e.g. the directory went away at shutdown
            log.warning("cannot record the control plane status: %s", exc)

    def run(self, stop: threading.Event, changed: Callable[[], None]) -> None:
        """Refresh every ``refresh`` until ``stop`` is set (a thread's target)."""
        while not stop.wait(self.interval):
            try:
                if self.refresh():
                    changed()
            except Exception:  # a bug here must not end the refreshes
                log.exception("control plane refresh failed")


def _explain(status: int, body: bytes, url: str) -> str:
    url = redact.url(url)  # the message reaches /healthz, which needs no key
    if status in (401, 403):
        return (
            f"the control plane at {url} refused the gateway's token ({status}): check "
            "control_plane.token and that its principal holds the gateway.serve permission"
        )
    text = body[:200].decode("utf-8", "replace").strip()
    return f"the control plane at {url} answered {status}" + (f": {text}" if text else "")
