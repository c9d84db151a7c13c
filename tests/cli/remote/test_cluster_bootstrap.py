"""``ironplane cluster bootstrap``: through the control plane, or rendered into a directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cli.remote.conftest import FakeServer
from tests.conftest import run_cli
from tests.sdk import samples as s

STORED: dict[str, Any] = {
    "kind": "Cluster",
    "name": "oke-prod",
    "provider": "oci",
    "addons": ["kyverno", "victoria-logs"],
    "bootstrap": {"extras": ["victoria-logs"]},
}
RESULT: dict[str, Any] = {
    "cluster": "oke-prod",
    "dry_run": False,
    "changed": True,
    "revision": 13,
    "profile": "oci-bare-metal",
    "argocd_namespace": "argocd",
    "installs_argo_cd": True,
    "addons": ["argo-cd", "kueue"],
    "existing": ["prometheus"],
    "applications": [
        {
            "name": "kueue",
            "addon": "kueue",
            "namespace": "kueue-system",
            "source": "registry.k8s.io/kueue/charts kueue",
            "version": "0.19.2",
            "wave": 4,
        }
    ],
    "objects": 9,
}
CLUSTER_FILE = """\
kind: Cluster
name: oke-prod
provider: oci
bootstrap:
  existing:
    argo-cd: {namespace: gitops}
---
kind: Workspace
name: prod
cluster: oke-prod
"""


def test_options_add_to_the_stored_section_and_go_to_the_control_plane(
    server: FakeServer,
) -> None:
    server.on("GET", "/clusters/oke-prod", {**s.CLUSTER, "spec": STORED})
    server.on("POST", "/clusters/oke-prod/bootstrap", RESULT)
    code, out, err = run_cli(
        [
            *("cluster", "bootstrap", "oke-prod", "--skip", "kuberay"),
            *("--existing", "prometheus=obs,endpoint=http://prom.obs.svc:9090"),
        ]
    )
    assert code == 0, err
    assert server.body("POST", "/clusters/oke-prod/bootstrap") == {
        "bootstrap": {
            "profile": None,
            "existing": {
                "prometheus": {"namespace": "obs", "endpoint": "http://prom.obs.svc:9090"}
            },
            "extras": ["victoria-logs"],  # kept from the stored section
            "skip": ["kuberay"],
        },
        "dry_run": False,
    }
    assert "kueue" in out and "0.19.2" in out
    assert "revision 13" in err and "changed" in err
    assert "install-agent oke-prod --bootstrap" in err  # the opt-in role it needs


def test_replace_starts_from_an_empty_section(server: FakeServer) -> None:
    server.on("GET", "/clusters/oke-prod", {**s.CLUSTER, "spec": STORED})
    server.on("POST", "/clusters/oke-prod/bootstrap", {**RESULT, "changed": False})
    code, _, err = run_cli(["cluster", "bootstrap", "oke-prod", "--replace", "--dry-run"])
    assert code == 0, err
    sent = server.body("POST", "/clusters/oke-prod/bootstrap")
    assert sent["bootstrap"]["extras"] == [] and sent["dry_run"] is True
    assert "unchanged" in err


def test_render_from_a_file_needs_no_control_plane(server: FakeServer, cwd: Path) -> None:
    (cwd / "cluster.yaml").write_text(CLUSTER_FILE)
    code, out, err = run_cli(
        [
            *("cluster", "bootstrap", "oke-prod", "-f", "cluster.yaml", "-o", "stack"),
            *("--with", "victoria-logs"),
        ]
    )
    assert code == 0, err
    assert out == "" and server.requests == []
    directory = cwd / "stack"
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    assert "root-ironplane-addons.yaml" in kustomization["resources"]
    assert not [r for r in kustomization["resources"] if r.startswith("installer-")]  # existing
    root = yaml.safe_load((directory / "root-ironplane-addons.yaml").read_text())
    assert root["metadata"]["namespace"] == "gitops"
    apps = root["spec"]["source"]["helm"]["valuesObject"]["applications"]
    assert "vector" in apps and "argo-cd" not in apps
    assert (directory / "application-vector.yaml").exists()
    # Again into the same directory: replaced (it is ours), now without the extra.
    code, _, err = run_cli(
        ["cluster", "bootstrap", "oke-prod", "-f", "cluster.yaml", "-o", "stack"]
    )
    assert code == 0, err
    assert not (directory / "application-vector.yaml").exists()


def test_render_with_a_profile_alone(server: FakeServer, cwd: Path) -> None:
    code, _, err = run_cli(["cluster", "bootstrap", "lab", "--profile", "generic", "-o", "out"])
    assert code == 0, err
    gpu = yaml.safe_load((cwd / "out" / "application-gpu-operator.yaml").read_text())
    assert gpu["spec"]["source"]["helm"]["valuesObject"]["driver"]["enabled"] is True
    assert (cwd / "out" / "installer-job.yaml").exists()
    assert server.requests == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--existing", "promethus=obs"], "did you mean 'prometheus'?"),
        (["--existing", "prometheus"], "ADDON=NAMESPACE[,endpoint=URL]"),
        (["--existing", "prometheus=obs,url=http://x"], "is not endpoint=URL"),
        (["--existing", "prometheus=obs,endpoint=prom:9090"], "not an http(s) URL"),
        (["--skip", "kuberey"], "did you mean 'kuberay'?"),
        (["--with", "victoria-log"], "did you mean 'victoria-logs'?"),
        (["--profile", "oci"], "did you mean 'oci-bare-metal'?"),
        (["--profile", "generic", "-o", "x", "--dry-run"], "--dry-run is for the control plane"),
    ],
)
def test_bad_input_exits_2_and_sends_nothing(
    server: FakeServer, cwd: Path, args: list[str], message: str
) -> None:
    server.on("GET", "/clusters/oke-prod", {**s.CLUSTER, "spec": STORED})
    code, _, err = run_cli(["cluster", "bootstrap", "oke-prod", *args])
    assert code == 2, err
    assert message in err
    assert server.sent("POST", "/clusters/oke-prod/bootstrap") == []


def test_a_foreign_directory_is_refused_before_anything(server: FakeServer, cwd: Path) -> None:
    (cwd / "mine").mkdir()
    (cwd / "mine" / "notes.txt").write_text("keep")
    code, _, err = run_cli(["cluster", "bootstrap", "oke-prod", "-o", "mine"])
    assert code == 2 and "not empty" in err and "ironplane cluster bootstrap" in err
    assert server.requests == []
    assert [p.name for p in (cwd / "mine").iterdir()] == ["notes.txt"]


def test_a_file_without_the_cluster_is_refused(server: FakeServer, cwd: Path) -> None:
    (cwd / "cluster.yaml").write_text(CLUSTER_FILE)
    code, _, err = run_cli(["cluster", "bootstrap", "other", "-f", "cluster.yaml", "-o", "o"])
    assert code == 2 and "no Cluster named 'other'" in err and "'oke-prod'" in err
