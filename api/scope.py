"""Who sees which learners: the six role filters as one SQL predicate.

Applied inside every report query (never by filtering fetched rows), over rows that
carry ``tenant_id``, ``learner_id`` and ``program_id`` (``daily_scores``). Scope comes
from the directory projection; roles come from the caller's token. A user with several
roles sees the union. A platform admin sees every tenant; everyone else only their own.
"""

from __future__ import annotations

from psycopg import sql

from api.auth import Principal
from api.problems import Problem
from projections.runner import READ_MODEL_SCHEMA

REPORT_ROLES = ("platform_admin", "company_admin", "program_owner", "manager", "mentor", "learner")


def can_read_reports(principal: Principal) -> bool:
    return principal.has(*REPORT_ROLES)


def require_report_role(principal: Principal) -> None:
    """403 unless the caller holds a role that reads reports (auditor and ingest do not)."""
    if not can_read_reports(principal):
        raise Problem(
            403, "Forbidden", f"reports need one of the roles {', '.join(REPORT_ROLES)}", rule="role_required"
        )


def scope_predicate(principal: Principal, alias: str = "s") -> tuple[sql.Composable, dict[str, object]]:
    """``(predicate, params)`` selecting the rows of ``alias`` that ``principal`` may see."""
    rm = sql.Identifier(READ_MODEL_SCHEMA)
    a = sql.Identifier(alias)
    if principal.has("platform_admin"):
        return sql.SQL("true"), {}
    if principal.has("company_admin"):
        return sql.SQL("{a}.tenant_id = %(scope_tenant)s").format(a=a), {"scope_tenant": principal.tenant_id}

    def owned_by_caller(table: str, row_column: str, caller_column: str) -> sql.Composable:
        """The row's ``row_column`` is linked to the caller through ``table``."""
        return sql.SQL(
            "exists (select 1 from {rm}.{t} x where x.tenant_id = {a}.tenant_id "
            "and x.{rc} = {a}.{rc} and x.{cc} = %(scope_user)s)"
        ).format(rm=rm, t=sql.Identifier(table), a=a, rc=sql.Identifier(row_column), cc=sql.Identifier(caller_column))

    # role -> (directory table, the row's column it joins on, the column naming the caller)
    links = {
        "program_owner": ("programs", "program_id", "owner_id"),
        "manager": ("manager_links", "learner_id", "manager_id"),
        "mentor": ("mentor_links", "learner_id", "mentor_id"),
    }
    branches: list[sql.Composable] = [owned_by_caller(*link) for role, link in links.items() if principal.has(role)]
    if principal.has("learner"):
        branches.append(sql.SQL("{a}.learner_id = %(scope_user)s").format(a=a))
    if not branches:
        return sql.SQL("false"), {}
    predicate = sql.SQL("({a}.tenant_id = %(scope_tenant)s and ({branches}))").format(
        a=a, branches=sql.SQL(" or ").join(branches)
    )
    return predicate, {"scope_tenant": principal.tenant_id, "scope_user": principal.user_id}
