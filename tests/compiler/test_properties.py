"""Property tests: random valid specs compile to manifests that validate, byte-identically twice."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ironplane.cli.output import yaml_stream
from ironplane.compiler import compile_documents
from ironplane.spec.loading import load_documents
from tests.conftest import crds_path, validate_manifests

names = st.from_regex(r"[a-z][a-z0-9]{2,10}(-[a-z0-9]{1,8})?", fullmatch=True)
quantities = st.builds(
    lambda n, unit: f"{n}{unit}",
    st.integers(1, 4096),
    st.sampled_from(["Mi", "Gi", "Ti", "M", "G"]),
)
cpus = st.one_of(
    st.integers(1, 64),
    st.sampled_from([0.1, 0.25, 0.5, 1.5]),
    st.sampled_from(["250m", "1500m"]),
)
env_values = st.one_of(
    st.text(st.characters(codec="ascii", exclude_categories=["Cc", "Cs"]), max_size=20),
    st.integers(-5, 5000),
    st.booleans(),
    st.builds(lambda g, k: {"secret": f"{g}/{k}"}, names, names),
)
envs = st.dictionaries(
    st.from_regex(r"[A-Z][A-Z0-9_]{0,12}", fullmatch=True), env_values, max_size=4
)
gpus = st.one_of(
    st.none(),
    st.builds(
        lambda c, t: {"count": c, "type": t},
        st.integers(1, 8),
        st.sampled_from(["H100", "H200", "A100"]),
    ),
)
durations = st.sampled_from(["5s", "30s", "2m", "1h30m"])


@st.composite
def resources(draw: st.DrawFn) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if draw(st.booleans()):
        out["cpu"] = draw(cpus)
    if draw(st.booleans()):
        out["memory"] = draw(quantities)
    gpu = draw(gpus)
    if gpu:
        out["gpu"] = gpu
    return out


@st.composite
def services(draw: st.DrawFn) -> dict[str, Any]:
    ports = draw(st.lists(st.integers(1, 65535), max_size=3, unique=True))
    doc: dict[str, Any] = {
        "kind": "Service",
        "name": draw(names),
        "workspace": "prod",
        "image": "registry.example.com/app:"
        + draw(st.from_regex(r"[0-9]\.[0-9]{1,2}", fullmatch=True)),
        "env": draw(envs),
        "ports": [
            {"port": p, "protocol": draw(st.sampled_from(["http", "grpc", "tcp"]))} for p in ports
        ],
        "resources": draw(resources()),
    }
    if draw(st.booleans()):
        doc["command"] = draw(
            st.lists(st.text("abc-_ ", min_size=1, max_size=8), min_size=1, max_size=3)
        )
    if draw(st.booleans()):
        doc["replicas"] = draw(st.integers(0, 20))
    elif draw(st.booleans()):
        doc["autoscaling"] = {"min": 0, "max": draw(st.integers(1, 9)), "target": 10}
    if ports and draw(st.booleans()):
        doc["health"] = {
            "readiness": {"port": ports[0], "path": "/ready", "period": draw(durations)},
            "liveness": {"port": ports[-1], "initial_delay": draw(durations)},
        }
    if draw(st.booleans()):
        doc["mounts"] = [
            {"path": "/data", "volume": "shared-data", "read_only": draw(st.booleans())}
        ]
    if draw(st.booleans()):
        doc["identity"] = {"service_account": draw(names)}
    if draw(st.booleans()):
        doc["shm"] = draw(quantities)
    return doc


@st.composite
def models(draw: st.DrawFn) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "kind": "Model",
        "name": draw(names),
        "workspace": "prod",
        "engine": draw(st.sampled_from(["vllm", "sglang", "tgi"])),
        "model": "org/" + draw(names),
        "resources": draw(resources()),
        "env": draw(envs),
    }
    source = draw(
        st.sampled_from(
            [None, "hf://org/model", "oci://ns/bucket/prefix/", "fss://shared-data/models/x"]
        )
    )
    if source:
        doc["weights"] = {
            "source": source,
            "cache": draw(st.sampled_from(["nvme", "memory"])),
        }
    if draw(st.booleans()):
        doc["identity"] = {"service_account": draw(names)}
    return doc


volumes = st.builds(
    lambda n, t, s: {"kind": "Volume", "name": n, "workspace": "prod", "type": t, "size": s},
    names,
    st.sampled_from(["fss", "block", "local-nvme"]),
    quantities,
)
jobs = st.builds(
    lambda n, r, t, sched, res: {
        "kind": "Job",
        "name": n,
        "workspace": "prod",
        "image": "acme/job:1",
        "command": ["run", "{{p}}"],
        "params": [{"name": "p", "default": "x"}],
        "retries": r,
        "timeout": t,
        "resources": res,
        **({"schedule": sched} if sched else {}),
    },
    names,
    st.integers(0, 10),
    durations,
    st.sampled_from([None, "0 2 * * *", "*/5 * * * *", "@daily"]),
    resources(),
)

PLATFORM = [
    {
        "kind": "Cluster",
        "name": "oke-prod",
        "provider": "oci",
        "region": "us-ashburn-1",
        "enhanced": True,
    },
    {"kind": "Workspace", "name": "prod", "cluster": "oke-prod", "gpu": True},
    {"kind": "Volume", "name": "shared-data", "workspace": "prod", "type": "fss", "size": "1Ti"},
]


def _compile(app: dict[str, Any]) -> bytes:
    docs, problems = load_documents(yaml_stream([*PLATFORM, app]), "generated.yaml")
    assert not problems, "\n".join(p.render() for p in problems) + "\n" + yaml_stream([app])
    compiled = compile_documents(docs)
    return yaml_stream(compiled.bundle.objects).encode() + compiled.bundle.hash.encode()


def _check(app: dict[str, Any], crd_dir: Path) -> None:
    first = _compile(app)
    assert first == _compile(app), "compiling twice must give identical bytes"
    docs, _ = load_documents(yaml_stream([*PLATFORM, app]), "generated.yaml")
    validate_manifests(compile_documents(docs).bundle.objects, crd_dir)


SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(services())
def test_random_services_compile_and_validate(app: dict[str, Any]) -> None:
    _check(app, crds_path())


@SETTINGS
@given(models())
def test_random_models_compile_and_validate(app: dict[str, Any]) -> None:
    _check(app, crds_path())


@SETTINGS
@given(st.one_of(volumes, jobs))
def test_random_volumes_and_jobs_compile_and_validate(app: dict[str, Any]) -> None:
    if app["kind"] == "Volume" and app["name"] == "shared-data":
        app = {**app, "name": "other-data"}
    _check(app, crds_path())
