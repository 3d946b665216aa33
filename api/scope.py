"""Who sees which learners: the six role filters as one SQL predicate.

Applied inside every report query (never by filtering fetched rows), over rows that
carry ``tenant_id``, ``learner_id`` and ``program_id`` (``daily_scores``). Scope comes
from the directory projection; roles come from the caller's token. A user with several
roles sees the union. A platform admin sees every tenant; everyone else only their own.
"""

from __future__ import annotations

from psycopg import sql

from api.auth import Principal
from projections.runner import READ_MODEL_SCHEMA

REPORT_ROLES = ("platform_admin", "company_admin", "program_owner", "manager", "mentor", "learner")


def can_read_reports(principal: Principal) -> bool:
    return principal.has(*REPORT_ROLES)


def scope_predicate(principal: Principal, alias: str = "s") -> tuple[sql.Composable, dict[str, object]]:
    """``(predicate, params)`` selecting the rows of ``alias`` that ``principal`` may see."""
    rm = sql.Identifier(READ_MODEL_SCHEMA)
    a = sql.Identifier(alias)
    if principal.has("platform_admin"):
        return sql.SQL("true"), {}
    if principal.has("company_admin"):
        return sql.SQL("{a}.tenant_id = %(scope_tenant)s").format(a=a), {"scope_tenant": principal.tenant_id}
    branches: list[sql.Composable] = []
    if principal.has("program_owner"):
        branches.append(
            sql.SQL(
                "exists (select 1 from {rm}.programs p where p.tenant_id = {a}.tenant_id "
                "and p.program_id = {a}.program_id and p.owner_id = %(scope_user)s)"
            ).format(rm=rm, a=a)
        )
    if principal.has("manager"):
        branches.append(
            sql.SQL(
                "exists (select 1 from {rm}.manager_links m where m.tenant_id = {a}.tenant_id "
                "and m.learner_id = {a}.learner_id and m.manager_id = %(scope_user)s)"
            ).format(rm=rm, a=a)
        )
    if principal.has("mentor"):
        branches.append(
            sql.SQL(
                "exists (select 1 from {rm}.mentor_links m where m.tenant_id = {a}.tenant_id "
                "and m.learner_id = {a}.learner_id and m.mentor_id = %(scope_user)s)"
            ).format(rm=rm, a=a)
        )
    if principal.has("learner"):
        branches.append(sql.SQL("{a}.learner_id = %(scope_user)s").format(a=a))
    if not branches:
        return sql.SQL("false"), {}
    predicate = sql.SQL("({a}.tenant_id = %(scope_tenant)s and ({branches}))").format(
        a=a, branches=sql.SQL(" or ").join(branches)
    )
    return predicate, {"scope_tenant": principal.tenant_id, "scope_user": principal.user_id}
