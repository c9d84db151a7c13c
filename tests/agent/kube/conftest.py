"""Fixtures: a Kubernetes API to test against — the in-repo fake (``fakeapi``), or a real
cluster when ``IRONPLANE_TEST_KUBECONFIG`` names a kubeconfig (then tests that need the fake's
hooks skip; see docs/testing.md)."""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from lightkube import AsyncClient

from ironplane.agent.kube import KubeApi, KubeRuntime, ResourceType, make_client
from tests.agent.kube.fakeapi import FakeKube, FakeServer

log = logging.getLogger(__name__)
KUBECONFIG = os.environ.get("IRONPLANE_TEST_KUBECONFIG")
REAL = bool(KUBECONFIG)
# A real cluster takes its time (controllers, namespace termination); the fake answers at once.
PATIENCE_S = 60.0 if REAL else 5.0


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """Session-scoped, so that the fake API server can be too (one per xdist worker)."""
    return "asyncio"


@pytest.fixture(scope="session")
async def fake_server() -> AsyncIterator[FakeServer | None]:
    if REAL:
        yield None
        return
    server = FakeServer()
    async with server.running():
        yield server


@dataclass
class Cluster:
    """The API under test: ``fake`` is None against a real cluster."""

    fake: FakeKube | None
    url: str | None
    clients: list[AsyncClient] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)
    cluster_objects: list[tuple[ResourceType, str]] = field(default_factory=list)

    def client(self) -> AsyncClient:
        client = make_client(kubeconfig=KUBECONFIG) if REAL else make_client(base_url=self.url)
        self.clients.append(client)
        return client

    def need_fake(self) -> FakeKube:
        if self.fake is None:
            pytest.skip("needs the fake API server's test hooks")
        return self.fake

    def namespace(self, stem: str = "ws") -> str:
        """A fresh namespace name (deleted after the test on a real cluster)."""
        name = f"ipt-{stem}-{uuid.uuid4().hex[:6]}"
        self.namespaces.append(name)
        return name

    def cluster_scoped(self, rt: ResourceType, name: str) -> None:
        """Delete this cluster-scoped object after the test (real cluster)."""
        self.cluster_objects.append((rt, name))


@pytest.fixture
async def cluster(fake_server: FakeServer | None) -> AsyncIterator[Cluster]:
    if REAL or fake_server is None:
        found = Cluster(fake=None, url=None)
        try:
            yield found
        finally:
            cleanup = KubeApi(found.client(), "ironplane-test")
            namespace = ResourceType.of("v1", "Namespace")
            doomed = [(namespace, name) for name in found.namespaces] + found.cluster_objects
            for rt, name in doomed:
                try:
                    await cleanup.delete(rt, name)
                except Exception as exc:  # e.g. 403 for a CRD when testing as the agent
                    log.warning("cannot delete %s %s: %s", rt.kind, name, exc)
            for client in found.clients:
                await client.close()
        return
    fake = fake_server.use(FakeKube())
    found = Cluster(fake=fake, url=fake.url)
    try:
        yield found
    finally:
        for client in found.clients:
            await client.close()
        fake.disconnect_watches()


@pytest.fixture
def api(cluster: Cluster) -> KubeApi:
    """A client for the test itself (field manager ``ironplane-test``)."""
    return KubeApi(cluster.client(), "ironplane-test")


@pytest.fixture
async def runtime(cluster: Cluster) -> AsyncIterator[KubeRuntime]:
    rt = KubeRuntime(cluster.client(), resync_s=30.0, establish_timeout_s=PATIENCE_S)
    await rt.start()
    try:
        yield rt
    finally:
        await rt.close()


async def eventually(
    check: Callable[[], Any | Awaitable[Any]], *, timeout: float = PATIENCE_S, what: str = ""
) -> Any:
    """Poll ``check`` until it returns something truthy (and return that); fail after
    ``timeout`` seconds with its last answer."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: Any = None
    while True:
        last = check()
        if inspect.isawaitable(last):
            last = await last
        if last:
            return last
        if loop.time() > deadline:
            pytest.fail(f"timed out waiting for {what or check}: last {last!r}")
        await asyncio.sleep(0.02)
