"""compiler/privilege.py finds in compiled objects what only a privileged workspace admits, and
nothing in what the compiler makes for a restricted one."""

from __future__ import annotations

from typing import Any

import pytest

from ironplane.compiler.privilege import privileged_uses
from tests.compiler.helpers import compile_text
from tests.compiler.test_training import KINDS, VOLUMES, training

SERVICE = (
    "kind: Service\nname: web-api\nworkspace: {ws}\nimage: registry.example.com/web:1\n"
    "ports: [{{port: 8080}}]\n"
)
MODEL = (
    "kind: Model\nname: llama\nworkspace: {ws}\nengine: vllm\n"
    "model: meta-llama/Llama-3.1-8B-Instruct\nresources: {{gpu: {{count: 1, type: H100}}}}\n"
    "weights: {{source: oci://ns/bucket/llama, credentials: s3-keys}}\n"
)
JOB = "kind: Job\nname: nightly\nworkspace: {ws}\nimage: registry.example.com/eval:2\ncommand: [run]\n"


def objects_of(text: str) -> list[dict[str, Any]]:
    return list(compile_text(VOLUMES + text).bundle.objects)


@pytest.mark.parametrize("ws", ["prod", "training"])
def test_nothing_privileged_where_nothing_needs_it(ws: str) -> None:
    """A Service, a Job and every framework without RDMA; in the restricted workspace a Model's
    puller too (its cache is the pod's own)."""
    text = SERVICE.format(ws=ws) + "---\n" + JOB.format(ws=ws) + "---\n"
    text += "".join(training(f"job-{f}", f, workspace=ws) for f in KINDS)
    if ws == "prod":
        text += MODEL.format(ws=ws)
    assert privileged_uses(objects_of(text)) == []


def test_the_node_shared_weights_cache_is_a_host_path_run_as_root() -> None:
    uses = privileged_uses(objects_of(MODEL.format(ws="training")))
    assert uses == [
        "Deployment llama: the host path /mnt/localdisk/ironplane/weights "
        "(volume weights-node-cache)",
        "Deployment llama: root (fetch-weights)",
    ]


@pytest.mark.parametrize("framework", list(KINDS))
def test_rdma_training_nodes_are_found_wherever_their_pod_spec_sits(framework: str) -> None:
    uses = privileged_uses(objects_of(training("ft-job", framework, rdma=True)))
    assert any(u.endswith(": the host network") for u in uses), uses
    assert any("a privileged container" in u for u in uses), uses
    assert any("added capabilities" in u for u in uses), uses
    assert any("the host path /dev/infiniband" in u for u in uses), uses
