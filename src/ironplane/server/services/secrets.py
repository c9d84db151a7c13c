"""Secret groups: values sealed with the server's key; the API shows values only to secrets.read."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ironplane.api.common import Deleted
from ironplane.api.secrets import (
    MAX_KEYS,
    SecretGroup,
    SecretGroupPatch,
    SecretGroupPut,
    SecretGroupValues,
)
from ironplane.core.errors import InvalidError, NotFoundError
from ironplane.core.names import secret_key_problem
from ironplane.server.context import Caller
from ironplane.server.db.tables import ClusterRow, SecretGroupRow, WorkspaceRow
from ironplane.server.db.types import utcnow
from ironplane.server.security.crypto import SecretBox
from ironplane.server.services.audit import record
from ironplane.server.services.lookup import by_name
from ironplane.server.services.store import bump, lock_clusters


def _out(row: SecretGroupRow, workspace: str) -> SecretGroup:
    return SecretGroup(workspace=workspace, name=row.name, keys=row.keys, updated_at=row.updated_at)


async def _group(session: AsyncSession, ws: WorkspaceRow, name: str) -> SecretGroupRow:
    row = await session.scalar(
        select(SecretGroupRow).where(
            SecretGroupRow.workspace_id == ws.id, SecretGroupRow.name == name
        )
    )
    if row is None:
        raise NotFoundError(f"secret group {name!r} not found in workspace {ws.name!r}")
    return row


async def list_groups(session: AsyncSession, workspace: str) -> list[SecretGroup]:
    ws = await by_name(session, WorkspaceRow, workspace)
    rows = await session.scalars(
        select(SecretGroupRow)
        .where(SecretGroupRow.workspace_id == ws.id)
        .order_by(SecretGroupRow.name)
    )
    return [_out(r, workspace) for r in rows]


async def read_group(
    session: AsyncSession, box: SecretBox, workspace: str, name: str
) -> SecretGroupValues:
    ws = await by_name(session, WorkspaceRow, workspace)
    row = await _group(session, ws, name)
    return SecretGroupValues(**_out(row, workspace).model_dump(), values=box.open(row.ciphertext))


async def _locked_group(
    session: AsyncSession, workspace: str, name: str, keys: Iterable[str]
) -> tuple[WorkspaceRow, ClusterRow, SecretGroupRow | None]:
    """Check the keys, take the workspace's cluster lock, then read the group (None if absent)."""
    bad = [k for k in keys if secret_key_problem(k)]
    if bad:
        raise InvalidError(f"values: invalid key {bad[0][:80]!r}: {secret_key_problem(bad[0])}")
    ws = await by_name(session, WorkspaceRow, workspace)
    cluster = (await lock_clusters(session, [ws.cluster_id]))[ws.cluster_id]
    row = await session.scalar(
        select(SecretGroupRow).where(
            SecretGroupRow.workspace_id == ws.id, SecretGroupRow.name == name
        )
    )
    return ws, cluster, row


async def _store(
    session: AsyncSession,
    box: SecretBox,
    ws: WorkspaceRow,
    cluster: ClusterRow,
    row: SecretGroupRow | None,
    name: str,
    values: dict[str, str],
) -> SecretGroupRow:
    """Seal the values into the group (created if absent) and move the cluster's revision."""
    if row is None:
        row = SecretGroupRow(workspace_id=ws.id, name=name, keys=[], ciphertext=b"")
        session.add(row)
    row.keys = sorted(values)
    row.ciphertext = box.seal(values)
    row.updated_at = utcnow()
    bump(cluster)
    await session.flush()
    return row


async def put_group(
    session: AsyncSession,
    caller: Caller,
    box: SecretBox,
    workspace: str,
    name: str,
    body: SecretGroupPut,
) -> SecretGroup:
    """Replace the group's values (create it if absent)."""
    ws, cluster, row = await _locked_group(session, workspace, name, body.values)
    values = {k: v.get_secret_value() for k, v in body.values.items()}
    row = await _store(session, box, ws, cluster, row, name, values)
    record(
        session,
        caller,
        action="secret_group.put",
        target=f"secret_group/{workspace}/{name}",
        details={"keys": row.keys},
    )
    return _out(row, workspace)


async def patch_group(
    session: AsyncSession,
    caller: Caller,
    box: SecretBox,
    workspace: str,
    name: str,
    body: SecretGroupPatch,
) -> SecretGroup:
    """Set some keys and delete others (``None``), keeping the rest; create the group if absent.

    The merge happens here, under the cluster's lock, so concurrent changes to other keys of the
    group are never lost. The group must keep at least one key.
    """
    ws, cluster, row = await _locked_group(session, workspace, name, body.values)
    values = box.open(row.ciphertext) if row is not None else {}
    for key, value in body.values.items():
        if value is None:
            values.pop(key, None)
        else:
            values[key] = value.get_secret_value()
    if not values:
        raise InvalidError(
            f"values: secret group {name!r} would have no keys left; a group keeps at least one "
            "(delete the group instead)"
        )
    if len(values) > MAX_KEYS:
        raise InvalidError(f"values: a secret group holds at most {MAX_KEYS} keys")
    row = await _store(session, box, ws, cluster, row, name, values)
    record(
        session,
        caller,
        action="secret_group.patch",
        target=f"secret_group/{workspace}/{name}",
        details={
            "keys": row.keys,
            "set": sorted(k for k, v in body.values.items() if v is not None),
            "unset": sorted(k for k, v in body.values.items() if v is None),
        },
    )
    return _out(row, workspace)


async def delete_group(session: AsyncSession, caller: Caller, workspace: str, name: str) -> Deleted:
    ws = await by_name(session, WorkspaceRow, workspace)
    row = await _group(session, ws, name)
    cluster = (await lock_clusters(session, [ws.cluster_id]))[ws.cluster_id]
    await session.delete(row)
    bump(cluster)
    record(session, caller, action="secret_group.delete", target=f"secret_group/{workspace}/{name}")
    return Deleted(deleted=f"secret_group/{workspace}/{name}")
