"""Turning objects into local workloads: expansion, env sources, problems, fingerprints."""

from __future__ import annotations

from pathlib import Path

import pytest

from ironplane.agent.local.env import expand
from ironplane.agent.local.model import launch_spec, workload_defs

from .helpers import PY, cronjob, deployment, http_server, job, secret, service


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$(A)", "1"),
        ("x$(A)y$(B)", "x1y2"),
        ("$(NOPE)", "$(NOPE)"),
        ("$$(A)", "$(A)"),
        ("$$$(A)", "$1"),
        ("$(A", "$(A"),
        ("$A", "$A"),
        ("cost: 5$", "cost: 5$"),
        ("$()", "$()"),
    ],
)
def test_expand_like_kubernetes(text: str, expected: str) -> None:
    assert expand(text, {"A": "1", "B": "2"}) == expected


def test_launch_spec_env_port_and_probe_mapping(tmp_path: Path) -> None:
    obj = http_server(
        "web",
        8080,
        env=[
            {"name": "BASE", "value": "http://127.0.0.1:$(PORT)"},
            {"name": "PORT", "value": "1"},  # the runtime's PORT wins
        ],
    )
    (definition,) = workload_defs([obj, service("web", 8080)]).values()
    assert definition.container is not None and definition.problem is None
    probe = definition.container.readiness
    assert probe is not None and probe.action == "http" and probe.port == 8080  # name resolved
    zero = launch_spec(definition.container, tmp_path, 8080)
    other = launch_spec(definition.container, tmp_path, 9999)
    assert zero.argv[-3:] == ("8080", "--bind", "127.0.0.1")
    assert other.argv[-3] == "9999" and other.port_map == {8080: 9999}
    assert other.env["PORT"] == "9999" and other.env["BASE"] == "http://127.0.0.1:9999"
    assert "PATH" in other.env  # inherited


def test_definitions_of_each_kind() -> None:
    found = workload_defs(
        [
            deployment("d", ["run"], replicas=3),
            job("j", ["run"], backoff_limit=4, deadline=60),
            cronjob("c", ["run"], schedule="*/5 * * * *", suspend=True, policy="Replace"),
            service("d", 80),
            {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}},
            {**deployment("unowned", ["run"]), "metadata": {"name": "unowned", "namespace": "x"}},
        ]
    )
    by_app = {d.app: d for d in found.values()}
    assert set(by_app) == {"d", "j", "c"}
    assert by_app["d"].replicas == 3 and by_app["d"].api_kind == "Deployment"
    assert (by_app["j"].backoff_limit, by_app["j"].deadline_s) == (4, 60.0)
    cron = by_app["c"]
    assert cron.suspend and cron.concurrency == "Replace" and cron.schedule is not None
    assert cron.schedule.minutes == set(range(0, 60, 5))


def test_fingerprint_follows_template_and_version_not_replicas() -> None:
    def fingerprint(obj: dict) -> str:  # type: ignore[type-arg]
        return next(iter(workload_defs([obj]).values())).fingerprint

    base = fingerprint(deployment("d", ["run"]))
    assert fingerprint(deployment("d", ["run"], replicas=5)) == base
    assert fingerprint(deployment("d", ["run"], version="v2")) != base
    assert fingerprint(deployment("d", ["run", "--flag"])) != base


def test_problems_are_reported_not_raised() -> None:
    bad_cron = cronjob("c", ["run"], schedule="61 * * * *")
    no_containers = deployment("n", ["run"])
    no_containers["spec"]["template"]["spec"]["containers"] = []
    bad_port = deployment("p", ["run"], probe={"httpGet": {"path": "/", "port": "web"}})
    bad_replicas = deployment("r", ["run"])
    bad_replicas["spec"]["replicas"] = "two"
    missing_key = deployment(
        "k",
        ["run"],
        env=[
            {"name": "X", "valueFrom": {"secretKeyRef": {"name": "s", "key": "nope"}}},
        ],
    )
    optional = deployment(
        "o",
        ["run"],
        env=[
            {
                "name": "X",
                "valueFrom": {"secretKeyRef": {"name": "gone", "key": "k", "optional": True}},
            },
        ],
    )
    found = {
        d.app: d
        for d in workload_defs(
            [
                bad_cron,
                no_containers,
                bad_port,
                bad_replicas,
                missing_key,
                optional,
                secret("s", {"yes": "1"}),
                deployment("img", None),
            ]
        ).values()
    }
    messages = {
        app: (d.problem.phase, d.problem.message) if d.problem else None for app, d in found.items()
    }
    assert messages["c"] is not None and "61 is out of range" in messages["c"][1]
    assert messages["n"] == ("Failed", "dev/n: the pod template has no containers")
    assert messages["p"] is not None and "'web' is not a declared port name" in messages["p"][1]
    assert messages["r"] is not None and "spec.replicas must be a count" in messages["r"][1]
    assert messages["k"] == ("Failed", "dev/k: env X: Secret dev/s has no key 'nope'")
    assert messages["o"] is None and found["o"].container is not None
    assert dict(found["o"].container.env) == {}
    assert messages["img"] is not None and messages["img"][0] == "NotRunnable"


def test_env_from_configmap_and_field_refs(tmp_path: Path) -> None:
    obj = deployment(
        "d",
        [PY],
        env=[
            {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {"name": "LEVEL", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "level"}}},
        ],
    )
    obj["spec"]["template"]["spec"]["containers"][0]["envFrom"] = [
        {"secretRef": {"name": "s"}, "prefix": "S_"},
    ]
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cfg", "namespace": "dev"},
        "data": {"level": "debug"},
    }
    (definition,) = workload_defs([obj, configmap, secret("s", {"a": "1"})]).values()
    assert definition.container is not None
    assert dict(definition.container.env) == {"S_a": "1", "NS": "dev", "LEVEL": "debug"}


def test_malformed_specs_become_problems() -> None:
    weird_cron = cronjob("c", ["run"])
    weird_cron["spec"]["jobTemplate"] = "nope"
    weird_env = deployment("e", ["run"])
    weird_env["spec"]["template"]["spec"]["containers"][0]["env"] = ["X=1"]
    weird_job = job("j", ["run"])
    weird_job["spec"]["backoffLimit"] = "many"
    found = {d.app: d.problem for d in workload_defs([weird_cron, weird_env, weird_job]).values()}
    assert all(p is not None and p.phase == "Failed" for p in found.values()), found
    assert found["j"] is not None and "backoffLimit must be a number" in found["j"].message
