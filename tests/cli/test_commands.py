"""The CLI: render to stdout and to a directory, validate exit codes, the JSON Schema."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from ironplane.cli.output import MARKER
from tests.conftest import EXAMPLES, run_cli

SERVICE = EXAMPLES / "service.yaml"
PLATFORM = [EXAMPLES / "cluster.yaml", EXAMPLES / "workspace.yaml", EXAMPLES / "volume.yaml"]


def _args(*files: Path) -> list[str]:
    return [a for f in files for a in ("-f", str(f))]


def test_render_stdout_is_a_yaml_stream() -> None:
    code, out, err = run_cli(["render", *_args(*PLATFORM, SERVICE)])
    assert code == 0, err
    objects = [o for o in yaml.safe_load_all(out) if o]
    assert ("Deployment", "chat-api") in {(o["kind"], o["metadata"]["name"]) for o in objects}
    assert "sha256:" in err


def test_render_workspace_flag_fills_missing_workspace(tmp_path: Path) -> None:
    spec = tmp_path / "svc.yaml"
    spec.write_text("kind: Service\nname: web-app\nimage: nginx:1.27\n")
    code, out, err = run_cli(["render", "-f", str(spec), "--workspace", "team-a"])
    assert code == 0, err
    deploy = next(o for o in yaml.safe_load_all(out) if o and o["kind"] == "Deployment")
    assert deploy["metadata"]["namespace"] == "team-a"
    assert "workspace 'team-a' is not defined in the input" in err


def test_render_to_directory_and_rerender(tmp_path: Path) -> None:
    target = tmp_path / "out"
    code, _, err = run_cli(["render", *_args(*PLATFORM, SERVICE), "-o", str(target)])
    assert code == 0, err
    files = sorted(p.name for p in target.iterdir())
    assert MARKER in files
    assert next(f for f in files if f != MARKER).startswith("000-namespace-")
    first = {p.name: p.read_text() for p in target.iterdir()}
    # A second render replaces the first completely (no stale files left behind).
    code, _, err = run_cli(["render", *_args(*PLATFORM), "-o", str(target)])
    assert code == 0, err
    second = {p.name for p in target.iterdir()}
    assert not any("chat-api" in name for name in second)
    assert len(second) < len(first)
    assert not list(tmp_path.glob(".out.*")), "no staging directories left behind"


def test_render_refuses_foreign_directory(tmp_path: Path) -> None:
    target = tmp_path / "mine"
    target.mkdir()
    (target / "notes.txt").write_text("keep me")
    code, _, err = run_cli(["render", *_args(*PLATFORM, SERVICE), "-o", str(target)])
    assert code == 2
    assert "not written by `ironplane render`" in err
    assert (target / "notes.txt").read_text() == "keep me"


def test_failed_render_leaves_previous_output_intact(tmp_path: Path) -> None:
    target = tmp_path / "out"
    assert run_cli(["render", *_args(*PLATFORM), "-o", str(target)])[0] == 0
    before = sorted(p.name for p in target.iterdir())
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: Volume\nname: data\nworkspace: prod\ntype: fss\nsize: huge\n")
    code, _, _ = run_cli(["render", *_args(*PLATFORM), "-f", str(bad), "-o", str(target)])
    assert code == 2
    assert sorted(p.name for p in target.iterdir()) == before


def test_validate_reports_errors_with_exit_code_2(tmp_path: Path, crd_dir: Path) -> None:
    bad = tmp_path / "deploy.yaml"
    bad.write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: prod}\n"
        "spec:\n  replica: 2\n  selector: {matchLabels: {a: b}}\n"
        "  template:\n    metadata: {labels: {a: b}}\n"
        "    spec: {containers: [{name: c, image: nginx}]}\n"
    )
    code, _, err = run_cli(["validate", "-f", str(bad), "--crds", str(crd_dir)])
    assert code == 2
    assert "replica" in err and "replicas" in err
    assert str(bad) in err


def test_validate_custom_resource_against_crd(tmp_path: Path, crd_dir: Path) -> None:
    vs = tmp_path / "vs.yaml"
    vs.write_text(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
        "metadata: {name: chat, namespace: prod}\n"
        "spec:\n  hosts: [chat.example.com]\n  http:\n  - route:\n    - destination: {host: chat}\n"
    )
    assert run_cli(["validate", "-f", str(vs), "--crds", str(crd_dir)])[0] == 0
    vs.write_text(vs.read_text().replace("hosts:", "hostz:"))
    code, _, err = run_cli(["validate", "-f", str(vs), "--crds", str(crd_dir)])
    assert code == 2
    assert "hostz" in err


def test_validate_unknown_kube_version(tmp_path: Path) -> None:
    ns = tmp_path / "ns.yaml"
    ns.write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n")
    code, _, err = run_cli(["validate", "-f", str(ns), "--kube-version", "1.20"])
    assert code == 2
    assert "1.33" in err


def test_schema_is_valid_json_schema_that_accepts_examples_and_rejects_typos() -> None:
    code, out, _ = run_cli(["schema"])
    assert code == 0
    schema = json.loads(out)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for example in sorted(EXAMPLES.glob("*.yaml")):
        for doc in yaml.safe_load_all(example.read_text()):
            errors = list(validator.iter_errors(doc))
            assert not errors, f"{example.name}: {errors[0].message}"
    typo = {"kind": "Service", "name": "web-app", "image": "x/y:1", "replica": 2}
    assert list(validator.iter_errors(typo)), "the schema must reject unknown fields"


@pytest.mark.parametrize("argv", [["--version"], ["render", "--help"]])
def test_entry_point_runs(argv: list[str]) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "ironplane.cli.main", *argv],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip()


def test_usage_error_exit_code() -> None:
    code, _, _ = run_cli(["render"])
    assert code == 2
