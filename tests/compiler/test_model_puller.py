"""oci:// weights with credentials: Ironplane's own puller, into a node-shared NVMe cache where
the workspace allows host paths."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from ironplane.core.errors import SpecError
from tests.compiler.helpers import compile_text, find, pod_of

Validate = Callable[[Sequence[dict[str, Any]]], None]


def model(workspace: str, cache: str = "nvme", extra: str = "") -> str:
    return (
        f"kind: Model\nname: llama\nworkspace: {workspace}\nengine: vllm\n"
        "model: meta-llama/Llama-3.1-8B-Instruct\n"
        "resources: {gpu: {count: 1, type: H100}}\n"
        f"weights: {{source: oci://ns/bucket/llama, cache: {cache}, credentials: s3-keys{extra}}}\n"
    )


def fetcher(pod: dict[str, Any]) -> dict[str, Any]:
    [init] = [c for c in pod["initContainers"] if c["name"] == "fetch-weights"]
    return init


def test_privileged_workspace_gets_the_node_cache(validated: Validate) -> None:
    compiled = compile_text(model("training"))
    deployment = find(compiled, "Deployment", "llama")
    validated([deployment])
    pod = pod_of(deployment)
    init = fetcher(pod)
    assert init["command"][:3] == ["ironplane", "fetch-weights", "oci://ns/bucket/llama"]
    assert init["command"][3:7] == [
        "--dest",
        "/mnt/localdisk/ironplane/weights",
        "--link",
        "/models/weights",
    ]
    assert init["command"][7:9] == ["--region", "us-ashburn-1"]
    assert {e["name"]: e["valueFrom"]["secretKeyRef"] for e in init["env"]} == {
        "AWS_ACCESS_KEY_ID": {"name": "ironplane-secret-s3-keys", "key": "aws_access_key_id"},
        "AWS_SECRET_ACCESS_KEY": {
            "name": "ironplane-secret-s3-keys",
            "key": "aws_secret_access_key",
        },
    }
    host = [v for v in pod["volumes"] if "hostPath" in v]
    assert host == [
        {
            "name": "weights-node-cache",
            "hostPath": {"path": "/mnt/localdisk/ironplane/weights", "type": "DirectoryOrCreate"},
        }
    ]
    engine = pod["containers"][0]
    node_mount = [m for m in engine["volumeMounts"] if m["name"] == "weights-node-cache"]
    assert node_mount == [
        {
            "name": "weights-node-cache",
            "mountPath": "/mnt/localdisk/ironplane/weights",
            "readOnly": True,
        }
    ]
    assert engine["command"][:3] == ["vllm", "serve", "/models/weights"]  # loads the link


def test_restricted_workspace_downloads_into_the_pod_with_a_warning(validated: Validate) -> None:
    compiled = compile_text(model("prod"))
    pod = pod_of(find(compiled, "Deployment", "llama"))
    validated([find(compiled, "Deployment", "llama")])
    assert not [v for v in pod["volumes"] if "hostPath" in v]
    assert fetcher(pod)["command"][3:5] == ["--dest", "/models/fetched"]
    assert "runAsUser" not in fetcher(pod)["securityContext"]
    assert any(
        "node-shared weights cache needs a privileged" in w.message for w in compiled.warnings
    )


def test_credentials_only_for_oci() -> None:
    text = model("prod").replace("oci://ns/bucket/llama", "hf://meta-llama/llama")
    with pytest.raises(SpecError) as failed:
        compile_text(text)
    assert "credentials are for oci://" in failed.value.message


@pytest.mark.parametrize(("cache", "warned"), [("cache: nvme, ", True), ("", False)])
def test_without_credentials_an_asked_for_nvme_cache_is_said_to_be_per_pod(
    cache: str, warned: bool
) -> None:
    """The OCI CLI path has no node cache; said when `cache: nvme` was written, not by default."""
    text = (
        "kind: Model\nname: llama\nworkspace: training\nengine: vllm\n"
        "model: meta-llama/Llama-3.1-8B-Instruct\nresources: {gpu: {count: 1, type: H100}}\n"
        f"weights: {{{cache}source: oci://ns/bucket/llama}}\n"
    )
    compiled = compile_text(text)
    pod = pod_of(find(compiled, "Deployment", "llama"))
    assert fetcher(pod)["command"][:2] == ["oci", "os"]
    said = [w.message for w in compiled.warnings if "needs weights.credentials" in w.message]
    assert bool(said) is warned
