"""Capability flags, read from the directory: the one place an export is allowed or not.

A flag belongs to the tenant whose data is read, whoever asks. A flag never set is on; a
flag may be restricted to some roles (``tenant.capabilities_changed`` v2 ``roles``). Used
by the API when an export is requested and by the export worker when it runs (the flag
may have changed in between), and by ``GET /v1/me`` for the page.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from psycopg import sql

from schemas.v2 import CAPABILITIES

READ_MODEL = sql.Identifier("readmodel")
FORMAT_CAPABILITY = {"csv": "exports.csv", "pdf": "exports.pdf", "parquet": "exports.parquet"}


@dataclass(frozen=True)
class CapabilityState:
    enabled: bool
    allowed: bool  # enabled, and the caller holds one of the roles it is restricted to
    reason: str | None


def capability_states(conn: Any, tenant: str, roles: Iterable[str]) -> dict[str, CapabilityState]:
    """Every capability's state for a caller of ``tenant`` holding ``roles``."""
    rows = conn.execute(
        sql.SQL("select capability, enabled, roles from {}.tenant_capabilities where tenant_id = %s").format(
            READ_MODEL
        ),
        [tenant],
    ).fetchall()
    stored = {name: (enabled, allowed) for name, enabled, allowed in rows}
    held = set(roles)
    states = {}
    for name in CAPABILITIES:
        enabled, allowed_roles = stored.get(name, (None, None))
        states[name] = _state(name, enabled is not False, allowed_roles or [], held)
    return states


def _state(name: str, enabled: bool, allowed_roles: list[str], held: set[str]) -> CapabilityState:
    if not enabled:
        return CapabilityState(False, False, f"capability {name} is switched off for your tenant")
    if allowed_roles and not held.intersection(allowed_roles):
        roles = ", ".join(sorted(allowed_roles))
        return CapabilityState(True, False, f"capability {name} is restricted to the roles {roles}")
    return CapabilityState(True, True, None)


def capability_refusal(conn: Any, tenant: str, roles: Iterable[str], capability: str) -> str | None:
    """Why a caller of ``tenant`` with ``roles`` may not use ``capability``, or None."""
    return capability_states(conn, tenant, roles)[capability].reason


def export_capabilities(
    export_format: str, group_by: str, learner_rows: int, tenant_wide: bool, bulk_rows: int
) -> list[str]:
    """The capabilities an export needs: its format's, plus ``exports.bulk`` for learner-level
    exports over ``bulk_rows`` rows or spanning a whole tenant (no program/cohort filter by
    an admin)."""
    needed = [FORMAT_CAPABILITY[export_format]]
    if group_by == "learner" and (learner_rows > bulk_rows or tenant_wide):
        needed.append("exports.bulk")
    return needed
