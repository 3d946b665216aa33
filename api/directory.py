"""What the directory in the log decides about a caller, on top of what the token proves.

The token proves who is calling (issuer, audience, subject, tenant, expiry) and which
roles the identity provider issued for this session. The directory — ``role.granted``
and ``role.revoked`` mutations folded into ``readmodel.user_roles`` — has the last word:
a role the directory revoked for (tenant, user) is dropped from the caller, whatever
the token claims, from the revocation's position in the log on. See the README,
"Who may do what".
"""

from __future__ import annotations

from typing import Any

import psycopg
import structlog
from psycopg import errors, sql

from api.auth import Principal
from api.problems import Problem
from projections.runner import READ_MODEL_SCHEMA

log = structlog.get_logger(__name__)

_REVOKED = sql.SQL("select role from {} where tenant_id = %s and user_id = %s and not granted").format(
    sql.Identifier(READ_MODEL_SCHEMA, "user_roles")
)


def revoked_roles(conn: Any, tenant: str, user: str) -> frozenset[str]:
    """Roles the directory has revoked for ``user`` in ``tenant`` (the latest grant or revoke wins)."""
    try:
        return frozenset(row[0] for row in conn.execute(_REVOKED, [tenant, user]))
    except errors.UndefinedTable:
        # No read models yet (a fresh install before the projections' first start):
        # nothing has been revoked, because nothing has been folded.
        log.warning("directory.missing", schema=READ_MODEL_SCHEMA)
        return frozenset()


def apply_directory(pool: Any, principal: Principal) -> Principal:
    """``principal`` with every role the directory revoked removed."""
    try:
        with pool.connection() as conn:
            revoked = revoked_roles(conn, principal.tenant_id, principal.user_id)
    except psycopg.OperationalError as err:
        raise Problem(
            503, "Directory unavailable", "cannot check your roles right now; retry", headers={"Retry-After": "5"}
        ) from err
    return principal.without(revoked) if revoked else principal
