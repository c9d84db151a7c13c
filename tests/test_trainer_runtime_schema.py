"""The TrainingRuntime schema check (tests/trainer_runtime_schema.py) refuses what it should."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.trainer_runtime_schema import pod_templates_of, validate_training_runtime

POD = "spec.template.spec.replicatedJobs[0].template.spec.template"
CONTAINER = f"{POD}.spec.containers[0]"


def runtime() -> dict[str, Any]:
    return {
        "apiVersion": "trainer.kubeflow.org/v1alpha1",
        "kind": "TrainingRuntime",
        "metadata": {
            "name": "ft-job",
            "namespace": "training",
            "labels": {"ironplane.io/job": "ft-job", "app.kubernetes.io/managed-by": "ironplane"},
        },
        "spec": {
            "mlPolicy": {"numNodes": 2, "torch": {}},
            "template": {
                "spec": {
                    "replicatedJobs": [
                        {
                            "name": "node",
                            "template": {
                                "metadata": {
                                    "labels": {
                                        "trainer.kubeflow.org/trainjob-ancestor-step": "trainer"
                                    }
                                },
                                "spec": {
                                    "template": {
                                        "metadata": {
                                            "labels": {"a": "b"},
                                            "annotations": {
                                                "kueue.x-k8s.io/podset-required-topology": "x"
                                            },
                                        },
                                        "spec": {
                                            "hostNetwork": True,
                                            "dnsPolicy": "ClusterFirstWithHostNet",
                                            "initContainers": [
                                                {"name": "fetch", "image": "i", "command": ["a"]}
                                            ],
                                            "containers": [
                                                {
                                                    "name": "node",
                                                    "image": "img",
                                                    "command": ["torchrun"],
                                                    "volumeDevices": [
                                                        {"name": "v", "devicePath": "/dev/x"}
                                                    ],
                                                    "securityContext": {
                                                        "privileged": True,
                                                        "runAsUser": 0,
                                                    },
                                                    "resources": {
                                                        "limits": {"nvidia.com/gpu": "8"}
                                                    },
                                                }
                                            ],
                                            "volumes": [
                                                {
                                                    "name": "v",
                                                    "persistentVolumeClaim": {
                                                        "claimName": "c",
                                                        "readOnly": True,
                                                    },
                                                }
                                            ],
                                        },
                                    }
                                },
                            },
                        }
                    ]
                }
            },
        },
    }


def _pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = pod_templates_of(obj)[0]["spec"]
    return spec


def _container(obj: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = _pod_spec(obj)["containers"][0]
    return container


def refused(obj: dict[str, Any]) -> str:
    with pytest.raises(AssertionError) as info:
        validate_training_runtime(obj)
    return str(info.value)


def test_realistic_runtime_passes() -> None:
    obj = runtime()
    before = copy.deepcopy(obj)
    validate_training_runtime(obj)
    assert obj == before


def test_unknown_key_at_top_of_spec_is_refused() -> None:
    obj = runtime()
    obj["spec"]["runtimeClass"] = "x"
    assert "spec.runtimeClass: unknown field" in refused(obj)


def test_unknown_key_deep_in_a_container_is_refused() -> None:
    obj = runtime()
    _container(obj)["foo"] = 1
    assert f"{CONTAINER}.foo: unknown field" in refused(obj)


def test_unknown_key_in_ml_policy_is_refused() -> None:
    obj = runtime()
    obj["spec"]["mlPolicy"]["nodes"] = 2
    assert "spec.mlPolicy.nodes: unknown field" in refused(obj)


def test_unknown_key_in_free_form_parent_still_checked_below_it() -> None:
    obj = runtime()
    obj["spec"]["mlPolicy"]["torch"]["bogus"] = True
    assert "spec.mlPolicy.torch.bogus: unknown field" in refused(obj)


def test_python_field_name_instead_of_json_name_is_refused() -> None:
    # The models' populate_by_name would take num_nodes; the API server would drop it.
    obj = runtime()
    obj["spec"]["mlPolicy"]["num_nodes"] = obj["spec"]["mlPolicy"].pop("numNodes")
    assert "spec.mlPolicy.num_nodes: unknown field" in refused(obj)


def test_unknown_key_in_metadata_is_refused() -> None:
    obj = runtime()
    pod_templates_of(obj)[0]["metadata"]["label"] = {"a": "b"}
    assert f"{POD}.metadata.label: unknown field" in refused(obj)


def test_wrong_type_is_refused_with_its_path() -> None:
    obj = runtime()
    obj["spec"]["mlPolicy"]["numNodes"] = "two"
    message = refused(obj)
    assert "spec.mlPolicy.numNodes: Input should be a valid integer" in message


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda o: _container(o)["securityContext"].update(runAsUser="0"),
            f"{CONTAINER}.securityContext.runAsUser: Input should be a valid integer",
        ),
        (
            lambda o: _container(o).update(command="torchrun"),
            f"{CONTAINER}.command: Input should be a valid list",
        ),
        (
            lambda o: _container(o).update(command=["torchrun", 1]),
            f"{CONTAINER}.command[1]: Input should be a valid string",
        ),
        (
            lambda o: _pod_spec(o).update(hostNetwork="true"),
            f"{POD}.spec.hostNetwork: Input should be a valid boolean",
        ),
        (
            lambda o: _pod_spec(o).update(dnsPolicy="ClusterFirstHostNet"),
            f"{POD}.spec.dnsPolicy: Value error, must be one of enum values",
        ),
        (
            lambda o: _pod_spec(o).update(containers={"name": "node"}),
            f"{POD}.spec.containers: expected a list, got dict",
        ),
        (
            lambda o: _container(o)["resources"]["limits"].update({"nvidia.com/gpu": True}),
            f'{CONTAINER}.resources.limits["nvidia.com/gpu"]: expected float or str',
        ),
        (
            lambda o: o["metadata"]["labels"].update(replicas=2),
            "metadata.labels.replicas: Input should be a valid string",
        ),
        (
            lambda o: _container(o).pop("name"),
            f"{CONTAINER}.name: required field missing",
        ),
        (
            lambda o: o["spec"]["template"]["spec"]["replicatedJobs"][0].pop("template"),
            "spec.template.spec.replicatedJobs[0].template: required field missing",
        ),
        (
            lambda o: o["spec"].update(mlPolicy=None, template=[]),
            "spec.template: expected an object, got list",
        ),
    ],
)
def test_deep_type_errors_are_refused(mutate: Any, expected: str) -> None:
    obj = runtime()
    mutate(obj)
    assert expected in refused(obj)


def test_quantities_and_int_or_string_take_numbers_and_strings() -> None:
    obj = runtime()
    _container(obj)["resources"]["requests"] = {"cpu": 4, "memory": "64Gi"}
    _container(obj)["ports"] = [{"containerPort": 29500, "name": "c10d"}]
    _container(obj)["readinessProbe"] = {"httpGet": {"port": "c10d", "path": "/"}}
    validate_training_runtime(obj)
    _container(obj)["readinessProbe"]["httpGet"]["port"] = 1.5
    assert f"{CONTAINER}.readinessProbe.httpGet.port: expected int or str" in refused(obj)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("kind", "ClusterTrainingRuntime"),
        ("kind", "TrainJob"),
        ("apiVersion", "kubeflow.org/v2alpha1"),
        ("apiVersion", "trainer.kubeflow.org/v2alpha1"),
    ],
)
def test_wrong_kind_or_api_version_is_refused(field: str, value: str) -> None:
    obj = runtime()
    obj[field] = value
    assert f"{field}: expected" in refused(obj)


def test_missing_kind_is_refused() -> None:
    obj = runtime()
    del obj["kind"]
    assert "kind: expected 'TrainingRuntime', got None" in refused(obj)


def test_every_violation_is_reported_at_once() -> None:
    obj = runtime()
    obj["spec"]["x"] = 1
    _container(obj)["y"] = 2
    message = refused(obj)
    assert "spec.x: unknown field" in message
    assert f"{CONTAINER}.y: unknown field" in message


def test_pod_templates_of_returns_the_pod_template() -> None:
    obj = runtime()
    pods = pod_templates_of(obj)
    assert len(pods) == 1
    job = obj["spec"]["template"]["spec"]["replicatedJobs"][0]
    assert pods[0] is job["template"]["spec"]["template"]
    assert pods[0]["spec"]["containers"][0]["name"] == "node"
    assert pods[0]["metadata"]["annotations"] == {"kueue.x-k8s.io/podset-required-topology": "x"}


def test_pod_templates_of_every_replicated_job() -> None:
    obj = runtime()
    jobs = obj["spec"]["template"]["spec"]["replicatedJobs"]
    jobs.append(copy.deepcopy(jobs[0]) | {"name": "launcher"})
    assert len(pod_templates_of(obj)) == 2
    del jobs[1]["template"]["spec"]["template"]
    with pytest.raises(AssertionError, match=r"replicatedJobs\[1\]\.template\.spec\.template"):
        pod_templates_of(obj)
