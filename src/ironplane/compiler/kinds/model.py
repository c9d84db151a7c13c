"""Model → a server running the named inference engine, with its weights and a GPU.

Engines get a pinned default image and command; ``image``, ``command`` and ``args`` override.
Weights come from Hugging Face (``hf://``, downloaded by the engine into the cache), from OCI
Object Storage (``oci://``, pulled by an init container into the cache) or from a file-system
volume (``fss://``, mounted read-only). The Kubernetes Service carries annotations the AI gateway
reads to register the model.
"""

from __future__ import annotations

from typing import Any

from ironplane.compiler.block_mount import block_weights, mount_then, mounted_path
from ironplane.compiler.core import Build
from ironplane.compiler.kinds.server import Server, declared_probes, emit_server, port_name
from ironplane.compiler.pods import NONROOT_UID, volume_claim
from ironplane.compiler.weights import NODE_CACHE, oci_cli, puller, uses_node_cache
from ironplane.spec.fields import Probe, Weights
from ironplane.spec.kinds import ModelSpec

ENGINE_IMAGES = {
    "vllm": "vllm/vllm-openai:v0.11.0",
    "sglang": "lmsysorg/sglang:v0.5.4",
    "tgi": "ghcr.io/huggingface/text-generation-inference:3.3.6",
}
ENGINE_QUEUE_METRICS = {
    "vllm": "vllm:num_requests_waiting",
    "sglang": "sglang:num_queue_reqs",
    "tgi": "tgi_queue_size",
}
"""Each engine's gauge of requests waiting for a batch slot: the autoscaler's default queue."""
CACHE_DIR = "/models"
WEIGHTS_DIR = "/weights"


def engine_command(spec: ModelSpec, model_path: str) -> list[str]:
    port = str(spec.port)
    gpus = spec.resources.gpu.count if spec.resources and spec.resources.gpu else 0
    if spec.engine == "vllm":
        cmd = ["vllm", "serve", model_path, "--host", "0.0.0.0", "--port", port]
        cmd += ["--served-model-name", spec.gateway_name]
        if gpus > 1:
            cmd += ["--tensor-parallel-size", str(gpus)]
    elif spec.engine == "sglang":
        cmd = ["python3", "-m", "sglang.launch_server", "--model-path", model_path]
        cmd += ["--host", "0.0.0.0", "--port", port, "--served-model-name", spec.gateway_name]
        # SGLang serves /metrics only when asked; vLLM and TGI always do.
        cmd += ["--enable-metrics"]
        if gpus > 1:
            cmd += ["--tp-size", str(gpus)]
    else:
        cmd = ["text-generation-launcher", "--model-id", model_path]
        cmd += ["--hostname", "0.0.0.0", "--port", port]
        if gpus > 1:
            cmd += ["--num-shard", str(gpus)]
    return cmd


def compile_model(build: Build) -> None:
    spec = build.spec
    assert isinstance(spec, ModelSpec)
    server = Server(
        spec=spec,
        kind="model",
        image=spec.image or ENGINE_IMAGES.get(spec.engine, ""),
        command=None,
        args=spec.args,
        ports=[(port_name("http", spec.port), spec.port)],
        run_as_user=spec.run_as_user or NONROOT_UID,
        env={"HOME": "/tmp"},
        service_annotations={
            "ironplane.dev/gateway-model": spec.gateway_name,
            "ironplane.dev/gateway-kind": spec.gateway.kind if spec.gateway else "chat",
            "ironplane.dev/gateway-port": str(spec.port),
        },
    )
    model_path = _weights(build, spec, server)
    if spec.engine == "custom":
        server.command = spec.command
    else:
        server.command = spec.command or engine_command(spec, model_path)
    if server.devices and server.command:  # a custom engine always has one (its spec)
        server.command = mount_then(server.command, WEIGHTS_DIR)
    server.probes = declared_probes(spec.health)
    if not server.probes and spec.engine != "custom":
        # Loading weights can take many minutes: the startup probe holds liveness back for up to
        # an hour, then readiness gates traffic.
        server.probes = {
            "startup": Probe(path="/health", port=spec.port, period="10s", failure_threshold=360),
            "readiness": Probe(path="/health", port=spec.port, period="5s"),
            "liveness": Probe(path="/health", port=spec.port, period="15s", failure_threshold=4),
        }
    emit_server(build, server)


def _cache(spec: ModelSpec, server: Server) -> None:
    cache = spec.weights.cache if spec.weights else "nvme"
    if cache == "none":
        return
    empty: dict[str, Any] = {"medium": "Memory"} if cache == "memory" else {}
    server.volumes.append({"name": "model-cache", "emptyDir": empty})
    server.mounts.append({"name": "model-cache", "mountPath": CACHE_DIR})
    server.env["HF_HOME"] = f"{CACHE_DIR}/hf"


def _weights(build: Build, spec: ModelSpec, server: Server) -> str:
    """Wire the weights into the pod and return the path or id the engine loads."""
    _cache(spec, server)
    weights = spec.weights
    if weights is None:
        return spec.model
    where = weights.location
    if weights.scheme == "hf":
        return "/".join(where)
    if weights.scheme == "fss":
        volume, sub = where[0], "/".join(where[1:])
        claim = volume_claim(volume)
        if not any(v["name"] == claim for v in server.volumes):
            server.volumes.append(
                {"name": claim, "persistentVolumeClaim": {"claimName": volume, "readOnly": True}}
            )
        mount = {"name": claim, "mountPath": WEIGHTS_DIR, "readOnly": True}
        if sub:
            mount["subPath"] = sub
        server.mounts.append(mount)
        return WEIGHTS_DIR
    if weights.scheme == "oci":
        node_cache = uses_node_cache(build, weights)  # says why not, when nvme was asked for
        if weights.credentials:
            return _puller(build, weights, server, node_cache=node_cache)
        mount = {"name": "model-cache", "mountPath": CACHE_DIR}
        container, path = oci_cli(
            build,
            weights,
            identity=spec.identity is not None,
            mount=mount,
            dest_dir=f"{CACHE_DIR}/oci",
        )
        server.init_containers.append(container)
        return path
    return _block(weights.location, server)


def _block(where: list[str], server: Server) -> str:
    """``block://<volume>[/<path>]``: the engine's container mounts the raw multi-attach device
    read-only on ``/weights`` before the engine starts (``compiler/block_mount.py``)."""
    block = block_weights(where, WEIGHTS_DIR)
    server.volumes += block.volumes
    server.mounts += block.mounts
    server.devices += block.devices
    return mounted_path(where, WEIGHTS_DIR)


def _puller(build: Build, weights: Weights, server: Server, *, node_cache: bool) -> str:
    """``oci://`` weights through Ironplane's puller (``ironplane fetch-weights``).

    With ``cache: nvme`` in a privileged workspace the download lands in a node-shared,
    content-keyed cache on the local NVMe (a hostPath), so each node fetches an artifact once;
    elsewhere (restricted pods cannot mount host paths, or ``cache: memory``) in the pod's own
    cache volume. Either way a symlink at a fixed path in the pod's cache names what to load.
    """
    dest = f"{CACHE_DIR}/fetched"
    mounts = [{"name": "model-cache", "mountPath": CACHE_DIR}]
    if node_cache:
        server.volumes.append(
            {
                "name": "weights-node-cache",
                "hostPath": {"path": NODE_CACHE, "type": "DirectoryOrCreate"},
            }
        )
        node_mount = {"name": "weights-node-cache", "mountPath": NODE_CACHE}
        # The engine reads what the puller wrote (files are world-readable), read-only.
        server.mounts.append({**node_mount, "readOnly": True})
        mounts.append(node_mount)
        dest = NODE_CACHE
    link = f"{CACHE_DIR}/weights"
    server.init_containers.append(
        puller(build, weights, mounts=mounts, dest=dest, link=link, as_root=node_cache)
    )
    return link
