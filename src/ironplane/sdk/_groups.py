"""The resource groups of a client, one line per endpoint; shared by Client and AsyncClient."""

from __future__ import annotations

from ironplane.sdk import _bootstrap as b
from ironplane.sdk import _identity as i
from ironplane.sdk import _platform as p
from ironplane.sdk import _progress as g
from ironplane.sdk import _telemetry as t
from ironplane.sdk._call import Bound, M, Send, endpoint


class Auth(Bound[M]):
    login = endpoint(i.login)
    logout = endpoint(i.logout)
    whoami = endpoint(i.whoami)


class Users(Bound[M]):
    list = endpoint(i.users_list)
    create = endpoint(i.users_create)
    get = endpoint(i.users_get)
    update = endpoint(i.users_update)
    delete = endpoint(i.users_delete)


class Teams(Bound[M]):
    list = endpoint(i.teams_list)
    create = endpoint(i.teams_create)
    get = endpoint(i.teams_get)
    delete = endpoint(i.teams_delete)
    add_member = endpoint(i.teams_add_member)
    remove_member = endpoint(i.teams_remove_member)


class ServiceAccounts(Bound[M]):
    list = endpoint(i.service_accounts_list)
    create = endpoint(i.service_accounts_create)
    delete = endpoint(i.service_accounts_delete)


class Tokens(Bound[M]):
    list = endpoint(i.tokens_list)
    create = endpoint(i.tokens_create)
    revoke = endpoint(i.tokens_revoke)


class Roles(Bound[M]):
    list = endpoint(i.roles_list)
    create = endpoint(i.roles_create)
    delete = endpoint(i.roles_delete)


class RoleBindings(Bound[M]):
    list = endpoint(i.role_bindings_list)
    create = endpoint(i.role_bindings_create)
    delete = endpoint(i.role_bindings_delete)


class Clusters(Bound[M]):
    list = endpoint(p.clusters_list)
    register = endpoint(p.clusters_register)
    get = endpoint(p.clusters_get)
    delete = endpoint(p.clusters_delete)
    rotate_agent_token = endpoint(p.clusters_rotate_agent_token)
    desired = endpoint(p.clusters_desired)
    bootstrap = endpoint(b.clusters_bootstrap)
    metrics = endpoint(t.cluster_metrics)


class Workspaces(Bound[M]):
    list = endpoint(p.workspaces_list)
    create = endpoint(p.workspaces_create)
    get = endpoint(p.workspaces_get)
    delete = endpoint(p.workspaces_delete)
    progress = endpoint(g.workspaces_progress)


class Apps(Bound[M]):
    list = endpoint(p.apps_list)
    get = endpoint(p.apps_get)
    delete = endpoint(p.apps_delete)
    versions = endpoint(p.apps_versions)
    version = endpoint(p.apps_version)
    rollback = endpoint(p.apps_rollback)
    logs = endpoint(p.apps_logs)
    restart = endpoint(p.apps_restart)
    promote = endpoint(p.apps_promote)
    abort = endpoint(p.apps_abort)
    metrics = endpoint(t.app_metrics)


class Runs(Bound[M]):
    start = endpoint(p.runs_start)
    list = endpoint(p.runs_list)
    get = endpoint(p.runs_get)
    stop = endpoint(p.runs_stop)
    logs = endpoint(p.runs_logs)


class Secrets(Bound[M]):
    list = endpoint(p.secrets_list)
    get = endpoint(p.secrets_get)
    put = endpoint(p.secrets_put)
    patch = endpoint(p.secrets_patch)
    delete = endpoint(p.secrets_delete)


class Audit(Bound[M]):
    list = endpoint(p.audit_list)


class Gateway(Bound[M]):
    snapshot = endpoint(p.gateway_snapshot)
    report = endpoint(p.gateway_report)
    usage = endpoint(p.gateway_usage)
    replicas = endpoint(p.gateway_replicas)
    usage_series = endpoint(t.gateway_usage_series)


class Api(Bound[M]):
    """Everything a client offers; ``M`` says whether its calls return results or awaitables."""

    health = endpoint(p.health)
    apply = endpoint(p.apply)

    def __init__(self, send: Send) -> None:
        super().__init__(send)
        self.auth: Auth[M] = Auth(send)
        self.users: Users[M] = Users(send)
        self.teams: Teams[M] = Teams(send)
        self.service_accounts: ServiceAccounts[M] = ServiceAccounts(send)
        self.tokens: Tokens[M] = Tokens(send)
        self.roles: Roles[M] = Roles(send)
        self.role_bindings: RoleBindings[M] = RoleBindings(send)
        self.clusters: Clusters[M] = Clusters(send)
        self.workspaces: Workspaces[M] = Workspaces(send)
        self.apps: Apps[M] = Apps(send)
        self.runs: Runs[M] = Runs(send)
        self.secrets: Secrets[M] = Secrets(send)
        self.audit: Audit[M] = Audit(send)
        self.gateway: Gateway[M] = Gateway(send)
