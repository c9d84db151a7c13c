"""Property test of every operation in the OpenAPI document, with the admin's token (SQLite).

schemathesis generates requests from the schema the app serves, valid ones and invalid ones, and
sends them to the ASGI app in-process; its ASGI client runs the app's lifespan first, so the
migrations and the bootstrap run. Each response is checked: never a 500; a status, content type
and body that the schema declares; and a 4xx for every invalid request.

schemathesis' own pytest integration (``schema.parametrize()`` on a lazy fixture) does not work
with pytest 9 (it sets ``request.node._nodeid``), so each operation's strategy is driven with
Hypothesis directly.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from ironplane.api.common import API_PREFIX
from ironplane.server.app import create_app
from ironplane.server.settings import ServerSettings

EXAMPLES = {GenerationMode.POSITIVE: 15, GenerationMode.NEGATIVE: 10}
SLOW = {"POST /api/v1/auth/login": 5}
"""Operations that hash a password (argon2, ~0.1 s) on every call get fewer examples."""
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
"""Not ``positive_data_acceptance``: well-formed requests are legitimately refused here (YAML
that does not parse, an unknown permission, a name that exists: 400 and 409)."""


@pytest.fixture
def loaded(tmp_path: Path) -> Iterator[tuple[Any, dict[str, str]]]:
    """The schema, loaded from the app (which starts its lifespan), and the admin's headers."""
    app = create_app(ServerSettings(data_dir=tmp_path / "data"), announce_token=False)
    schema = schemathesis.openapi.from_asgi(f"{API_PREFIX}/openapi.json", app)
    token = app.state.bootstrap_token
    assert token, "the lifespan must have run: the bootstrap makes the admin's token"
    try:
        yield schema, {"Authorization": f"Bearer {token}"}
    finally:
        asgi.shutdown_lifespans()


def _negatable(operation: Any) -> bool:
    """Whether an invalid request exists: a body, a query, or a path parameter with a type or a
    bound (any string is a valid free-form path parameter, and hypothesis would give up)."""
    if len(operation.body) or len(operation.query):
        return True
    return any(
        p.get("schema", {}).get("type") != "string"
        or set(p.get("schema", {})) - {"type", "title", "description"}
        for p in operation.definition.raw.get("parameters", [])
    )


def _exercise(operation: Any, mode: GenerationMode, headers: dict[str, str]) -> None:
    @settings(
        max_examples=min(EXAMPLES[mode], SLOW.get(operation.label, EXAMPLES[mode])),
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    run()


def test_every_operation(loaded: tuple[Any, dict[str, str]]) -> None:
    schema, headers = loaded
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 40, [op.label for op in operations]
    failures: list[str] = []
    for operation in operations:
        for mode in EXAMPLES:
            if mode is GenerationMode.NEGATIVE and not _negatable(operation):
                continue
            try:
                _exercise(operation, mode, headers)
            except Exception as exc:
                failures.append(f"{operation.label} ({mode.value}): {exc}")
    assert not failures, "\n\n".join(failures)
