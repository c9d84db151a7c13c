"""Register a cluster, render its agent's install, "kubectl apply -k" it to the fake Kubernetes
API server (tests/agent/kube/fakeapi.py), and run the agent configured only from what the
Deployment and the Secret stored there say; then rotate its token without downtime."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import logging
import shlex
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from ironplane.agent import main as agent_main
from ironplane.agent.kube import KubeApi, make_client
from ironplane.agent.kube import runtime as kube_runtime
from ironplane.agent.settings import AgentSettings, from_env
from ironplane.compiler.agent_install import HEALTH_PORT
from ironplane.wire import agent_protocol as proto
from tests.agent.kube.fakeapi import FakeKube
from tests.conftest import run_cli
from tests.e2e.conftest import Api, RecordingRuntime, connected, eventually, running
from tests.sdk.live import Live, running_server

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with running_server(
        tmp_path_factory.mktemp("cp"), agent_heartbeat_s=2.0, agent_poll_s=0.5
    ) as server:
        yield server


@pytest.fixture
def cli(live: Live, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The CLI logged in to the live control plane, working in ``tmp_path``."""
    monkeypatch.setenv("IRONPLANE_CONFIG", str(tmp_path / "cli.yaml"))
    monkeypatch.setenv("IRONPLANE_URL", live.url)
    monkeypatch.setenv("IRONPLANE_TOKEN", live.admin_token)
    monkeypatch.chdir(tmp_path)
    return tmp_path


async def ironplane(*args: str) -> str:
    """Run the CLI (in a thread: it is synchronous); its stdout."""
    code, out, err = await asyncio.to_thread(run_cli, list(args))
    assert code == 0, err
    return out


async def kubectl_apply_k(fake: FakeKube, directory: Path) -> None:
    """What `kubectl apply --server-side -k DIR` sends for a plain kustomization."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    client = make_client(base_url=fake.url)
    try:
        kubectl = KubeApi(client, "kubectl")
        for name in kustomization["resources"]:
            for obj in yaml.safe_load_all((directory / name).read_text()):
                await kubectl.apply(obj)
    finally:
        await client.aclose()


def pod_environment(fake: FakeKube, namespace: str) -> tuple[list[str], dict[str, str]]:
    """The agent container's command and environment as the kubelet would give them: values
    as written, secretKeyRefs read from the Secret stored in the API server."""
    deployment = fake.get("Deployment", namespace, "ironplane-agent")
    assert deployment is not None
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    env: dict[str, str] = {}
    for var in container["env"]:
        if "value" in var:
            env[var["name"]] = var["value"]
            continue
        ref = var["valueFrom"]["secretKeyRef"]
        secret = fake.get("Secret", namespace, ref["name"])
        assert secret is not None
        env[var["name"]] = base64.b64decode(secret["data"][ref["key"]]).decode()
    return container["command"], env


@contextlib.asynccontextmanager
async def pod(
    fake: FakeKube, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[AgentSettings, dict[str, Any]]]:
    """The agent's pod: ``ironplane agent``'s own entry point, configured from the Deployment
    and the Secret stored in the API server alone. Its Kubernetes client is the one thing
    pointed by the test (at the fake API server: in a pod, lightkube finds the API server from
    the service account)."""
    deployment = fake.get("Deployment", "ironplane-system", "ironplane-agent")
    assert deployment is not None
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    settings = deployed_agent(fake, "ironplane-system")
    monkeypatch.setattr(kube_runtime, "make_client", lambda: make_client(base_url=fake.url))
    async with _holding_the_health_port():
        stop = asyncio.Event()
        task = asyncio.create_task(agent_main.run(settings, stop))
        try:
            yield settings, container["livenessProbe"]
        finally:
            stop.set()
            await asyncio.wait_for(task, 15)


@contextlib.asynccontextmanager
async def _holding_the_health_port() -> AsyncIterator[None]:
    """The deployed agent serves its probes on the Deployment's fixed port: one such pod at a
    time across test processes (pytest-xdist), or the second cannot bind it."""
    lock = Path(tempfile.gettempdir()) / f"ironplane-tests-port-{HEALTH_PORT}.lock"
    with lock.open("a") as f:
        await asyncio.to_thread(fcntl.flock, f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


async def alive(probe: dict[str, Any]) -> int:
    """The kubelet's liveness check: GET the probe's path and port on the pod."""
    get = probe["httpGet"]
    async with httpx.AsyncClient(trust_env=False) as client:
        r = await client.get(f"http://127.0.0.1:{get['port']}{get['path']}")
    return r.status_code


def deployed_agent(fake: FakeKube, namespace: str) -> AgentSettings:
    command, env = pod_environment(fake, namespace)
    assert command == ["ironplane", "agent"]  # no options: the settings come from env alone
    return from_env(env)


async def events(api: Api, action: str, cluster: str) -> list[dict[str, Any]]:
    r = await api.client.get("/audit", params={"limit": 1000})
    return [e for e in r.json() if e["action"] == action and e["target"] == f"cluster/{cluster}"]


async def disconnected(api: Api, cluster: str) -> bool:
    """Shown disconnected: the disconnect is recorded (in the same transaction as its audit)."""
    return not await connected(api, cluster)


async def handshake(live: Live, token: str) -> proto.ServerFrame | None:
    """A second agent's handshake with this token: its first answer (Welcome when accepted)."""
    url = live.url.replace("http://", "ws://") + "/api/v1/agent/connect"
    async with connect(url, additional_headers={"Authorization": f"Bearer {token}"}) as ws:
        await ws.send(proto.encode(proto.Hello(agent_version="x", runtime="local")))
        return proto.decode_server_frame(await ws.recv())


async def reads_desired(api: Api, token: str, cluster: str = "inst-one") -> int:
    r = await api.client.get(
        f"/clusters/{cluster}/desired", headers={"Authorization": f"Bearer {token}"}
    )
    return r.status_code


async def refused(live: Live, token: str) -> int:
    with pytest.raises(InvalidStatus) as caught:
        await handshake(live, token)
    return caught.value.response.status_code


async def test_register_install_and_the_installed_agent_connects_then_rotates(
    live: Live, api: Api, cli: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    command = (await ironplane("cluster", "register", "inst-one")).strip()
    install, _, apply = command.partition(" && ")
    argv, directory = shlex.split(install), Path(shlex.split(apply)[-1])
    assert argv[:4] == ["ironplane", "cluster", "install-agent", "inst-one"]
    assert shlex.split(apply) == ["kubectl", "apply", "-k", str(directory)]
    token_a = (cli / argv[argv.index("--token-file") + 1]).read_text()

    async with FakeKube().serve() as fake:
        # The printed command, exactly; then `kubectl apply -k` against the fake API server.
        await ironplane(*argv[1:])
        await kubectl_apply_k(fake, directory)
        async with pod(fake, monkeypatch) as (settings, probe):
            assert settings.token == token_a and settings.runtime == "kubernetes"
            assert settings.server_url == live.url
            await eventually(lambda: connected(api, "inst-one"), what="connected")
            assert (await api.cluster("inst-one"))["agent"]["runtime"] == "kubernetes"
            assert await alive(probe) == 200
            # It follows the cluster: a workspace becomes a namespace in the fake API server.
            await api.apply("kind: Workspace\nname: inst-ws\ncluster: inst-one\n")
            await eventually(
                lambda: fake.get("Namespace", None, "inst-ws") is not None, what="the namespace"
            )

            # Rotate: a new Secret and a new pod template; the running agent keeps token A.
            await ironplane(
                "cluster", "install-agent", "inst-one", "--rotate", "-o", str(directory)
            )
            before = fake.get("Deployment", "ironplane-system", "ironplane-agent")
            await kubectl_apply_k(fake, directory)
            after = fake.get("Deployment", "ironplane-system", "ironplane-agent")
            assert before and after and before["spec"]["template"] != after["spec"]["template"]
            assert deployed_agent(fake, "ironplane-system").token != token_a
            assert await reads_desired(api, token_a) == 200  # A still authenticates
        # The Deployment's Recreate: the old pod stops, the new one starts on token B.
        await eventually(lambda: disconnected(api, "inst-one"), what="the old pod gone")
        async with pod(fake, monkeypatch) as (rolled, probe):
            await eventually(
                lambda: events(api, "cluster.agent_token_rotated", "inst-one"),
                what="the agent on B connected (and so retired A)",
            )
            assert await connected(api, "inst-one")
            assert await alive(probe) == 200
            assert await refused(live, token_a) == 403
    await eventually(lambda: disconnected(api, "inst-one"), what="the end recorded")
    assert len(await events(api, "agent.disconnect", "inst-one")) == 2  # the restart, the end
    [rotated] = await events(api, "cluster.agent_token_rotated", "inst-one")
    assert rotated["details"]["token"] == rolled.token.split("_")[1]
    assert rotated["details"]["revoked"] == [token_a.split("_")[1]]


def quick(live: Live, token: str) -> AgentSettings:
    return AgentSettings(
        server_url=live.url,
        token=token,
        runtime="local",
        status_interval_s=0.2,
        backoff_base_s=0.05,
        backoff_cap_s=0.3,
    )


async def test_rotation_without_downtime(
    live: Live, api: Api, cli: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="ironplane.agent")
    await ironplane("cluster", "register", "rot-one", "--token-file", "a")
    token_a = (cli / "a").read_text()
    async with running(quick(live, token_a), RecordingRuntime(), join_s=15) as agent_a:
        await eventually(lambda: connected(api, "rot-one"), what="A connected")
        out = await ironplane("cluster", "rotate-token", "rot-one", "--token-file", "b")
        assert "install-agent rot-one --token-file b" in out and "kubectl apply -k" in out
        token_b = (cli / "b").read_text()
        # Until an agent connects with B, A authenticates: over HTTP, and an agent restarted
        # on A connects again.
        assert await reads_desired(api, token_a, "rot-one") == 200
    await eventually(lambda: disconnected(api, "rot-one"), what="A stopped")
    async with running(quick(live, token_a), RecordingRuntime(), join_s=15) as agent_a:
        await eventually(lambda: agent_a.connected.is_set(), what="A reconnected after B minted")
        shown: list[bool] = []

        async def watch() -> None:
            while True:
                shown.append(await connected(api, "rot-one"))
                await asyncio.sleep(0.02)

        watcher = asyncio.create_task(watch())
        # An agent on B connects: A's connection is closed (4001) and A is refused from then on.
        async with running(quick(live, token_b), RecordingRuntime(), join_s=15) as agent_b:
            try:
                await eventually(lambda: agent_b.connected.is_set(), what="B connected")
                await eventually(lambda: not agent_a.connected.is_set(), what="A closed")
                await eventually(lambda: "(4001 the agent token was rotated)" in caplog.text)
                assert await refused(live, token_a) == 403
                assert await reads_desired(api, token_a, "rot-one") == 401
                await asyncio.sleep(0.3)  # A keeps trying and failing: B stays
                assert agent_b.connected.is_set() and not agent_a.connected.is_set()
                assert await connected(api, "rot-one")
            finally:
                watcher.cancel()  # before B stops
    assert shown and all(shown), "the cluster showed disconnected during the rotation"
    # Disconnected twice: A's restart after the rotation, and the end of the test.
    await eventually(lambda: disconnected(api, "rot-one"), what="the end recorded")
    assert len(await events(api, "agent.disconnect", "rot-one")) == 2
    [rotated] = await events(api, "cluster.agent_token_rotated", "rot-one")
    assert rotated["details"] == {
        "token": token_b.split("_")[1],
        "revoked": [token_a.split("_")[1]],
    }


async def test_register_install_connect_and_bootstrap_with_two_existing_addons(
    live: Live, api: Api, cli: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole chain of issue 10: register, install the agent (with the opt-in bootstrap role)
    into the fake API server, see it connect, bootstrap the add-ons with Prometheus and Istio
    marked existing: the agent applies the Argo CD installer and the root Application holding
    exactly the other add-ons, and nothing of Prometheus or Istio."""
    command = (await ironplane("cluster", "register", "inst-boot")).strip()
    install, _, apply = command.partition(" && ")
    argv, directory = shlex.split(install), Path(shlex.split(apply)[-1])
    async with FakeKube().serve() as fake:
        await ironplane(*argv[1:], "--bootstrap")
        await kubectl_apply_k(fake, directory)
        assert fake.get("ClusterRole", None, "ironplane-agent-bootstrap") is not None
        async with pod(fake, monkeypatch):
            await eventually(lambda: connected(api, "inst-boot"), what="connected")
            await ironplane(
                "cluster",
                "bootstrap",
                "inst-boot",
                "--profile",
                "generic",
                "--existing",
                "prometheus=obs,endpoint=http://prometheus-operated.obs.svc:9090",
                "--existing",
                "istio=mesh",
            )

            def root() -> dict[str, Any] | None:
                try:  # an unknown kind until something of it is stored (no CRD in the fake)
                    return fake.get("Application", "argocd", "ironplane-addons")
                except KeyError:
                    return None

            await eventually(lambda: root() is not None, timeout=30, what="the root Application")
            found = root()
            assert found is not None
            children = found["spec"]["source"]["helm"]["valuesObject"]["applications"]
            names = set(children) if isinstance(children, dict) else {c["name"] for c in children}
            assert "argo-cd" in names and "keda" in names and "kueue" in names
            assert not {n for n in names if "prometheus" in n or "istio" in n}
            installers = [n for n in fake.applied("Job") if "argocd-installer" in n]
            assert len(set(installers)) == 1
            # Ironplane now follows the existing add-ons: the Cluster points at them.
            spec = (await api.cluster("inst-boot"))["spec"]
            assert spec["prometheus_url"] == "http://prometheus-operated.obs.svc:9090"
            assert spec["ingress_gateway"].startswith("mesh/")
