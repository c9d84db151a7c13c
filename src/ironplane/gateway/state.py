"""A loaded configuration compiled for the request path: routes, keys and limits by lookup.

A reload builds a new :class:`State` and swaps it in; requests in flight keep the one they
started with. Target health, latency estimates and limit fill levels carry over for what did
not change, and upstream connection pools are shared by every state of a worker.
"""

from __future__ import annotations

import hashlib

import msgspec

from ironplane.gateway.config import Loaded, Settings
from ironplane.gateway.limits import Limit
from ironplane.gateway.scopes import Scope, Scopes
from ironplane.gateway.targets import Route, Upstream
from ironplane.gateway.tokens import Token
from ironplane.gateway.upstream import Pools


class KeyState:
    __slots__ = ("checked", "limit", "models", "models_body", "name", "remote", "scopes", "team")

    def __init__(self, name: str, models: frozenset[str] | None, limit: Limit | None) -> None:
        self.name = name
        self.models = models
        """None: every model."""
        self.limit = limit
        self.models_body = b""
        self.team: str | None = None
        self.scopes: tuple[Scope, ...] = ()
        """Its own scope and its team's: spend is counted in both (``scopes.py``)."""
        self.checked: tuple[Scope, ...] = ()
        """Those of ``scopes`` with a limit or a budget to check before each request."""
        self.remote = False
        """From the control plane's snapshot: refused past ``control_plane.max_stale``."""

    def may_use(self, model: str) -> bool:
        return self.models is None or model in self.models


class _Model(msgspec.Struct):
    id: str
    object: str = "model"
    created: int = 0
    owned_by: str = "ironplane"


class _List(msgspec.Struct):
    data: list[_Model]
    object: str = "list"


def digest(key: bytes) -> bytes:
    return hashlib.sha256(key).digest()


class State:
    def __init__(
        self,
        loaded: Loaded,
        pools: Pools,
        *,
        workers: int,
        now: float,
        previous: State | None = None,
    ) -> None:
        config = loaded.config
        self.loaded = loaded
        self.settings: Settings = config.gateway
        self.threshold = config.gateway.cooldown_failures
        self.cooldown = float(config.gateway.cooldown)
        upstreams = {p.name: Upstream(p, loaded.secrets.get(p.name)) for p in config.providers}
        self.routes: dict[str, Route] = {}
        self.workers = workers
        for model in config.models:
            route = Route(model, upstreams)
            for target in route.targets:
                target.pool = pools.get(target.upstream)
            self.routes[model.name] = route
        # Limits and budgets of keys, teams and models: enforced by the worker's governor.
        self.scopes = Scopes(config)
        self.model_scopes = self.scopes.checked_models
        self.keys: dict[bytes, KeyState] = {}
        self.tokens: dict[bytes, Token] = {}
        """Ironplane tokens by their 16-hex id (``tokens.find``)."""
        self.no_snapshot = config.control_plane is not None and loaded.snapshot is None
        """Control-plane mode before the first snapshot: unknown keys and models get 503."""
        listings: dict[frozenset[str] | None, bytes] = {}
        """One /v1/models body per set of allowed models: the control plane's tokens all share
        ``*``, so tens of thousands of keys cost one listing, not one each."""
        file_keys = len(config.keys) if loaded.file_keys is None else loaded.file_keys
        for i, key in enumerate(config.keys):
            allowed = None if "*" in key.models else frozenset(key.models)
            state = KeyState(key.name, allowed, None)
            state.remote = i >= file_keys
            body = listings.get(allowed)
            if body is None:
                body = listings[allowed] = self._listing(state)
            state.models_body = body
            hashed = bytes.fromhex(key.hash.removeprefix("sha256:"))
            if key.token_id is not None:
                self.tokens[key.token_id.encode()] = Token(hashed, key.expires_at, state)
            else:
                self.keys[hashed] = state
        self.anonymous = KeyState("-", None, None)
        self.anonymous.models_body = self._listing(self.anonymous)
        self.scopes.attach((*self.keys.values(), *(t.key for t in self.tokens.values())))
        if previous is not None:
            self._carry(previous)

    def _listing(self, key: KeyState) -> bytes:
        names = [n for n in self.routes if key.may_use(n)]
        return msgspec.json.encode(_List([_Model(n) for n in names]))

    def _carry(self, old: State) -> None:
        for name, route in self.routes.items():
            before = old.routes.get(name)
            if before is None:
                continue
            if route.limit is not None and before.limit is not None:
                route.limit.carry(before.limit)
            earlier = {(t.label, t.upstream.address): t for t in before.targets}
            for target in route.targets:
                match = earlier.get((target.label, target.upstream.address))
                if match is not None:
                    target.carry(match)
        by_name = {k.name: k for k in old.keys.values()}
        by_name.update((t.key.name, t.key) for t in old.tokens.values() if t.key.limit is not None)
        for key in (*self.keys.values(), *(t.key for t in self.tokens.values())):
            before_key = by_name.get(key.name)
            if key.limit is not None and before_key is not None and before_key.limit is not None:
                key.limit.carry(before_key.limit)

    def health(self, now: float) -> list[tuple[str, str, bool]]:
        return [
            (name, t.label, t.available(now, self.threshold) or t.probing)
            for name, route in self.routes.items()
            for t in route.targets
        ]
