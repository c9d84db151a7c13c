"""Bootstrap a cluster's add-on stack (the Argo CD app-of-apps the agent applies)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from ironplane.api.bootstrap import BootstrapRequest, BootstrapResult
from ironplane.api.permissions import Permission as P
from ironplane.server.security.guards import Access, allow
from ironplane.server.services import bootstrap as svc

router = APIRouter()


@router.post("/clusters/{cluster}/bootstrap", tags=["clusters"])
async def bootstrap_cluster(
    cluster: str,
    body: BootstrapRequest,
    a: Access = Depends(allow(P.CLUSTERS_WRITE, on="cluster")),
) -> BootstrapResult:
    """Replace the Cluster's ``bootstrap`` section: its desired state then holds the Argo CD
    installer and the root Application of the add-on stack, which its agent applies. The
    revision grows only when the spec changes. Needs clusters.write on the cluster."""
    async with a.services.db.session() as s:
        return await svc.bootstrap(s, a.caller, cluster, body)
