"""``ironplane cluster register|install-agent|rotate-token`` against a fake control plane."""

from __future__ import annotations

import base64
import shlex
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cli.remote.conftest import URL, FakeServer
from tests.conftest import run_cli
from tests.sdk import samples as s

SECRET = "ipt_00112233aabbccdd_" + "Z" * 43
NEWER = "ipt_99887766aabbccdd_" + "Y" * 43


def minted(secret: str) -> dict[str, Any]:
    token = {**s.TOKEN, "id": secret.split("_")[1], "name": "agent oke-prod"}
    return {"token": token, "subject": "agent:oke-prod", "secret": secret}


def test_register_writes_the_token_0600_and_prints_the_exact_install_command(
    server: FakeServer, cwd: Path
) -> None:
    server.on("POST", "/clusters", {**s.CLUSTER_REGISTERED, "agent_token": minted(SECRET)}, 201)
    code, out, err = run_cli(
        [
            "cluster",
            "register",
            "oke-prod",
            "--provider",
            "oci",
            "--region",
            "eu-frankfurt-1",
            "--enhanced",
            "--addon",
            "keda,istio",
        ]
    )
    assert code == 0, err
    assert server.body("POST", "/clusters") == {
        "kind": "Cluster",
        "name": "oke-prod",
        "provider": "oci",
        "region": "eu-frankfurt-1",
        "enhanced": True,
        "addons": ["keda", "istio"],
    }
    token_file = cwd / "oke-prod-agent-token"
    assert token_file.read_text() == SECRET
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert SECRET.split("_")[2] not in out + err  # the token is in the file alone
    command = out.strip()
    assert "\n" not in command
    install, _, apply = command.partition(" && ")
    assert shlex.split(install) == [
        "ironplane",
        "cluster",
        "install-agent",
        "oke-prod",
        "--token-file",
        "oke-prod-agent-token",
        "--control-plane-url",
        URL,
        "-o",
        "agent-oke-prod",
    ]
    assert shlex.split(apply) == ["kubectl", "apply", "-k", "agent-oke-prod"]


def test_register_refuses_bad_input_before_registering(server: FakeServer, cwd: Path) -> None:
    (cwd / "taken").write_text("old")
    code, _, err = run_cli(["cluster", "register", "oke-prod", "--token-file", "taken"])
    assert code == 2 and "exists" in err
    code, _, err = run_cli(["cluster", "register", "oke-prod", "--provider", "aws"])
    assert code == 2 and "choose generic or oci" in err
    assert server.requests == []
    assert (cwd / "taken").read_text() == "old"


def install_routes(server: FakeServer) -> None:
    server.on("GET", "/clusters/oke-prod", s.CLUSTER)
    server.on("POST", "/clusters/oke-prod/agent-token", minted(NEWER), 201)


def test_install_agent_writes_a_private_kustomize_directory(server: FakeServer, cwd: Path) -> None:
    install_routes(server)
    (cwd / "token").write_text(SECRET + "\n")
    code, out, err = run_cli(
        [
            "cluster",
            "install-agent",
            "oke-prod",
            "--token-file",
            "token",
            "-o",
            "agent",
            "--api-server",
            "10.0.0.0/28",
            "--namespace",
            "agents",
            "--image",
            "example.com/ip:1",
        ]
    )
    assert code == 0, err
    assert out == ""
    directory = cwd / "agent"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700  # it holds the token
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    written = {p.name for p in directory.iterdir() if p.suffix == ".yaml"}
    assert set(kustomization["resources"]) == written - {"kustomization.yaml"}
    secret = yaml.safe_load((directory / "secret.yaml").read_text())
    assert base64.b64decode(secret["data"]["token"]).decode() == SECRET
    assert secret["metadata"]["namespace"] == "agents"
    deployment = yaml.safe_load((directory / "deployment.yaml").read_text())
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "example.com/ip:1"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["IRONPLANE_SERVER_URL"] == URL  # the CLI's server by default
    assert server.sent("POST", "/clusters/oke-prod/agent-token") == []
    assert "--control-plane-cidr" in err  # the warning about a DNS name
    # Run again: the directory is replaced, as `render -o` does.
    code, _, err = run_cli(
        ["cluster", "install-agent", "oke-prod", "--token-file", "token", "-o", "agent"]
    )
    assert code == 0, err


def test_install_agent_rotate_prints_a_stream_with_the_new_token(server: FakeServer) -> None:
    install_routes(server)
    code, out, err = run_cli(
        [
            "cluster",
            "install-agent",
            "oke-prod",
            "--rotate",
            "--control-plane-url",
            "https://10.1.2.3:8443",
            "--api-server",
            "10.0.0.0/28",
        ]
    )
    assert code == 0, err
    docs = list(yaml.safe_load_all(out))
    [secret] = [d for d in docs if d["kind"] == "Secret"]
    assert base64.b64decode(secret["data"]["token"]).decode() == NEWER
    assert len(server.sent("POST", "/clusters/oke-prod/agent-token")) == 1
    assert "99887766aabbccdd" in err and "warning" not in err
    [policy] = [d for d in docs if d["kind"] == "NetworkPolicy"]
    assert policy["spec"]["egress"][1]["to"] == [{"ipBlock": {"cidr": "10.1.2.3/32"}}]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rotate", "--api-server", "10.0.0.5/24"], "did you mean 10.0.0.0/24?"),
        (["--rotate", "--api-server", "kube.example.com"], "--api-server 'kube.example.com'"),
        (["--rotate", "--control-plane-url", "ironplane.example.com"], "must start with https"),
        (["--rotate", "--namespace", "Agents"], "namespace 'Agents'"),
        ([], "pass --token-file FILE"),
        (["--rotate", "--token-file", "x"], "one of them"),
        (["--token-file", "missing"], "cannot read it"),
    ],
)
def test_install_agent_refuses_bad_input_with_exit_code_2_and_mints_nothing(
    server: FakeServer, cwd: Path, args: list[str], message: str
) -> None:
    install_routes(server)
    code, out, err = run_cli(["cluster", "install-agent", "oke-prod", *args])
    assert code == 2, err
    assert message in err
    assert out == ""
    assert server.sent("POST", "/clusters/oke-prod/agent-token") == []


def test_install_agent_refuses_an_unknown_cluster_and_a_foreign_directory(
    server: FakeServer, cwd: Path
) -> None:
    code, _, err = run_cli(["cluster", "install-agent", "nope", "--rotate"])
    assert code == 2
    assert "cluster 'nope' is not registered" in err and "ironplane cluster register nope" in err
    install_routes(server)
    server.requests.clear()
    (cwd / "mine").mkdir()
    (cwd / "mine" / "notes.txt").write_text("keep")
    code, _, err = run_cli(["cluster", "install-agent", "oke-prod", "--rotate", "-o", "mine"])
    assert code == 2 and "not empty" in err
    assert server.requests == []  # refused before asking the control plane anything
    assert (cwd / "mine" / "notes.txt").read_text() == "keep"
    (cwd / "token").write_text("hunter2\n")
    code, _, err = run_cli(["cluster", "install-agent", "oke-prod", "--token-file", "token"])
    assert code == 2 and "not an Ironplane token" in err and "hunter2" not in err


def test_rotate_token_writes_the_new_token_and_keeps_or_revokes_the_old(
    server: FakeServer, cwd: Path
) -> None:
    install_routes(server)
    code, out, err = run_cli(["cluster", "rotate-token", "oke-prod", "--token-file", "new"])
    assert code == 0, err
    assert (cwd / "new").read_text() == NEWER
    assert stat.S_IMODE((cwd / "new").stat().st_mode) == 0o600
    [sent] = server.sent("POST", "/clusters/oke-prod/agent-token")
    assert sent.url.params.get("revoke_old") is None
    assert "old token works until an agent connects" in err
    assert "install-agent oke-prod --token-file new" in out and "kubectl apply -k" in out
    code, _, err = run_cli(
        ["cluster", "rotate-token", "oke-prod", "--token-file", "newer", "--revoke-old"]
    )
    assert code == 0, err
    assert server.sent("POST", "/clusters/oke-prod/agent-token")[1].url.params["revoke_old"] == (
        "true"
    )
    assert "revoked" in err
    code, _, err = run_cli(["cluster", "rotate-token", "nope", "--token-file", "x"])
    assert code == 2 and "not registered" in err
    assert not (cwd / "x").exists()


def test_rotate_token_that_cannot_be_written_says_how_to_recover(
    server: FakeServer, cwd: Path
) -> None:
    install_routes(server)
    (cwd / "plain").write_text("a file, not a directory")
    code, out, err = run_cli(["cluster", "rotate-token", "oke-prod", "--token-file", "plain/new"])
    assert code == 2, err
    assert "a new agent token for 'oke-prod' is minted, but plain/new cannot be written" in err
    assert "ironplane cluster rotate-token oke-prod --token-file FILE" in err
    assert out == ""
    assert len(server.sent("POST", "/clusters/oke-prod/agent-token")) == 1


def test_install_agent_checks_locally_then_reads_the_cluster_once(server: FakeServer) -> None:
    spec = {**s.CLUSTER["spec"], "addons": ["prometheus"]}
    server.on("GET", "/clusters/oke-prod", {**s.CLUSTER, "spec": spec})
    server.on("POST", "/clusters/oke-prod/agent-token", minted(NEWER), 201)
    code, _, err = run_cli(["cluster", "install-agent", "oke-prod", "--rotate", "-n", "Agents"])
    assert code == 2 and "namespace 'Agents'" in err
    assert server.requests == []  # a local mistake is reported before anything is asked
    code, out, err = run_cli(["cluster", "install-agent", "oke-prod", "--rotate"])
    assert code == 0, err
    assert len(server.sent("GET", "/clusters/oke-prod")) == 1
    [policy] = [d for d in yaml.safe_load_all(out) if d["kind"] == "NetworkPolicy"]
    namespace = {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}
    assert policy["spec"]["egress"][-1]["to"] == [{"namespaceSelector": namespace}]
