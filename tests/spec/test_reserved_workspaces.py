"""A workspace cannot be named like a namespace of Kubernetes, the agent or an add-on."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ironplane.spec.kinds import WorkspaceSpec
from ironplane.spec.kinds.bootstrap import NAMESPACES


@pytest.mark.parametrize("name", ["kube-system", "ironplane-system", *NAMESPACES.values()])
def test_reserved_names_are_refused(name: str) -> None:
    with pytest.raises(ValidationError, match="take it over"):
        WorkspaceSpec.model_validate({"kind": "Workspace", "name": name, "cluster": "c1"})


def test_ordinary_names_and_default_are_fine() -> None:
    for name in ("default", "prod", "monitoring-team"):
        assert WorkspaceSpec.model_validate({"kind": "Workspace", "name": name}).name == name
