"""JSON Schema of the specs, for editors (yaml-language-server) and docs."""

from __future__ import annotations

from typing import Any

from ironplane import __version__
from ironplane.spec.kinds import SPEC_ADAPTER


def json_schema() -> dict[str, Any]:
    schema = SPEC_ADAPTER.json_schema(mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://ironplane.dev/schemas/spec-{__version__}.json",
        "title": "Ironplane app spec",
        "description": "One document of an Ironplane spec file (Cluster, Workspace, Service, "
        "Model, Job, TrainingJob or Volume).",
        **schema,
    }
