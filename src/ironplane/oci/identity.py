"""OKE Workload Identity: the OCI IAM policy that lets one workload act as itself.

A workload is (cluster OCID, namespace, service account); OCI grants it permissions through
``any-user`` statements conditioned on those three (Enhanced clusters only)::

    Allow any-user to read objects in compartment ml where all {
        request.principal.type = 'workload', request.principal.namespace = 'prod',
        request.principal.service_account = 'chat-api',
        request.principal.cluster_id = 'ocid1.cluster.oc1...'}
"""

from __future__ import annotations

from collections.abc import Sequence

from ironplane.core.errors import InvalidError

CLUSTER_PLACEHOLDER = "<cluster-ocid>"
PERMISSION_PLACEHOLDER = "<verb> <resource> in <location>"


def policy_statements(
    *,
    namespace: str,
    service_account: str,
    cluster_ocid: str | None,
    permissions: Sequence[str],
) -> list[str]:
    """One ``Allow`` statement per permission (a placeholder one when none are asked for)."""
    for value in (namespace, service_account, cluster_ocid or "", *permissions):
        if "'" in value or any(ord(c) < 32 or c in "{}" for c in value):
            raise InvalidError(f"{value!r} cannot appear in a policy statement")
    where = (
        "where all {request.principal.type = 'workload', "
        f"request.principal.namespace = '{namespace}', "
        f"request.principal.service_account = '{service_account}', "
        f"request.principal.cluster_id = '{cluster_ocid or CLUSTER_PLACEHOLDER}'}}"
    )
    return [f"Allow any-user to {p} {where}" for p in (permissions or [PERMISSION_PLACEHOLDER])]
