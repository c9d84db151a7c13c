"""A workspace's progress carries the cluster's failed revision, but its error (which may name
objects of other workspaces) only for those who may read the cluster."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from ironplane.server.db.tables import ClusterAckRow, ClusterRow
from tests.server.conftest import Server
from tests.server.helpers import CLUSTER, WORKSPACE, apply_yaml, make_user

pytestmark = pytest.mark.anyio


async def test_a_workspace_viewer_does_not_read_other_workspaces_errors(server: Server) -> None:
    await apply_yaml(
        server.admin, CLUSTER, WORKSPACE, "kind: Workspace\nname: secret-team\ncluster: oke-prod\n"
    )
    services = server.app.state.services
    async with services.db.session() as s:
        cluster = await s.scalar(select(ClusterRow).where(ClusterRow.name == "oke-prod"))
        assert cluster is not None
        s.add(
            ClusterAckRow(
                cluster_id=cluster.id,
                revision=cluster.revision,
                hash="x",
                ok=False,
                error="apply Secret secret-team/acquisition-db-creds: admission denied",
            )
        )
    token = await make_user(server, "val", role="viewer", scope=("workspace", "prod"))
    assert (await server.client(token).get("/workspaces/secret-team/progress")).status_code == 404
    r = await server.client(token).get("/workspaces/prod/progress")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["failed_revision"] is not None
    assert "secret-team" not in body["failed_error"] and "clusters.read" in body["failed_error"]
    admin = (await server.admin.get("/workspaces/prod/progress")).json()
    assert "secret-team/acquisition-db-creds" in admin["failed_error"]
