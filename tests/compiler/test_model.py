"""Model → an engine server with weights, GPUs, probes and gateway annotations."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from tests.compiler.helpers import compile_text, find, pod_of

Validate = Callable[[Sequence[dict[str, Any]]], None]

BASE = """\
kind: Model
name: llama-8b
workspace: prod
model: meta-llama/Llama-3.1-8B-Instruct
resources: {gpu: {count: 2, type: H100}, cpu: 8, memory: 64Gi}
gateway: {name: llama-3.1-8b, kind: chat}
"""


@pytest.mark.parametrize(
    ("engine", "head", "tp"),
    [
        ("vllm", ["vllm", "serve"], ["--tensor-parallel-size", "2"]),
        ("sglang", ["python3", "-m", "sglang.launch_server"], ["--tp-size", "2"]),
        ("tgi", ["text-generation-launcher"], ["--num-shard", "2"]),
    ],
)
def test_engine_commands(engine: str, head: list[str], tp: list[str], validated: Validate) -> None:
    compiled = compile_text(BASE + f"engine: {engine}\n")
    validated(compiled.bundle.objects)
    container = pod_of(find(compiled, "Deployment", "llama-8b"))["containers"][0]
    cmd = container["command"]
    assert cmd[: len(head)] == head
    assert "meta-llama/Llama-3.1-8B-Instruct" in cmd
    joined = " ".join(cmd)
    assert " ".join(tp) in joined
    assert container["startupProbe"]["httpGet"] == {"path": "/health", "port": 8000}
    assert (
        container["startupProbe"]["failureThreshold"] * container["startupProbe"]["periodSeconds"]
        >= 3600
    )


def test_gateway_annotations_and_service() -> None:
    compiled = compile_text(BASE + "engine: vllm\n")
    svc = find(compiled, "Service", "llama-8b")
    assert svc["metadata"]["annotations"] == {
        "ironplane.dev/gateway-kind": "chat",
        "ironplane.dev/gateway-model": "llama-3.1-8b",
        "ironplane.dev/gateway-port": "8000",
    }
    cmd = pod_of(find(compiled, "Deployment", "llama-8b"))["containers"][0]["command"]
    assert cmd[cmd.index("--served-model-name") + 1] == "llama-3.1-8b"


def test_oci_weights_pulled_by_init_container_with_workload_identity(validated: Validate) -> None:
    text = BASE + (
        "engine: vllm\nweights: {source: oci://ns1/bucket-a/llama/v1/, cache: memory}\n"
        "identity: {service_account: llama}\n"
    )
    compiled = compile_text(text)
    validated(compiled.bundle.objects)
    pod = pod_of(find(compiled, "Deployment", "llama-8b"))
    init = pod["initContainers"][0]
    assert init["command"][:4] == ["oci", "os", "object", "bulk-download"]
    assert init["command"][init["command"].index("--auth") + 1] == "oke_workload_identity"
    assert init["command"][init["command"].index("--prefix") + 1] == "llama/v1"
    assert {"name": "model-cache", "emptyDir": {"medium": "Memory"}} in pod["volumes"]
    cmd = pod["containers"][0]["command"]
    assert cmd[2] == "/models/oci/llama/v1"


def test_fss_weights_mounted_read_only() -> None:
    text = BASE + "engine: sglang\nweights: {source: fss://shared-data/models/llama, cache: none}\n"
    pod = pod_of(find(compile_text(text), "Deployment", "llama-8b"))
    container = pod["containers"][0]
    assert {
        "name": "vol-shared-data",
        "mountPath": "/weights",
        "readOnly": True,
        "subPath": "models/llama",
    } in container["volumeMounts"]
    assert container["command"][container["command"].index("--model-path") + 1] == "/weights"
    assert not any(v["name"] == "model-cache" for v in pod["volumes"])


def test_model_runs_as_non_root_user_with_writable_home() -> None:
    pod = pod_of(find(compile_text(BASE + "engine: vllm\n"), "Deployment", "llama-8b"))
    assert pod["securityContext"]["runAsUser"] == 1000
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert env["HOME"] == "/tmp"
    assert env["HF_HOME"] == "/models/hf"


def test_custom_engine_needs_image_and_command() -> None:
    from ironplane.core.errors import SpecError

    with pytest.raises(SpecError, match="engine: custom needs image and command"):
        compile_text(BASE + "engine: custom\n")
    ok = compile_text(BASE + "engine: custom\nimage: acme/server:1\ncommand: [serve]\n")
    container = pod_of(find(ok, "Deployment", "llama-8b"))["containers"][0]
    assert container["command"] == ["serve"]
    assert "startupProbe" not in container
