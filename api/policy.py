"""Who may append what. One rule, used by the HTTP ingest and by every mutation endpoint."""

from __future__ import annotations

from api.auth import Principal
from schemas.envelope import Envelope
from schemas.types import NOT_IN_DIRECTORY, EventData
from schemas.v1 import (
    AuditExportRequested,
    ExportLinkIssued,
    ExportRequested,
    NotificationPreferencesChanged,
    NotificationRead,
    RoleGranted,
    RoleRevoked,
    TenantCreated,
    UserRegistered,
)
from schemas.v2 import UserRegistered as SealedRegistration
from schemas.validation import Problem

LEARNER_EVENT_WRITERS = ("ingest", "company_admin", "platform_admin")
MUTATION_WRITERS = ("company_admin", "platform_admin")
# Who outranks whom when roles are handed out: a caller may grant or revoke roles up
# to its own rank, never above. platform_admin is outside any tenant's directory: the
# identity provider issues it, no tenant API grants or revokes it.
ROLE_RANK = {"platform_admin": 3, "company_admin": 2}
# Auditors place legal holds too (issue 11). Releasing one needs its placer or a company
# admin; only the DELETE endpoint can check the placer (it reads the hold), so it alone
# passes ``also=("auditor",)``: through the generic doors only admins release.
EXTRA_WRITERS = {"legal_hold.placed": ("auditor",)}


# Types only their own endpoint appends: it does what the record alone cannot (check the
# legal holds, destroy the subject's data key) — issue 12 §3.
ENDPOINT_ONLY = {"subject.erased": "POST /v1/subjects/{id}/erasure"}


def endpoint_only_refusal(envelope: Envelope) -> Problem | None:
    """Why the generic ingest refuses this event: its type has an endpoint of its own."""
    endpoint = ENDPOINT_ONLY.get(envelope.type)
    if endpoint is None:
        return None
    return Problem("type", "use_endpoint", f"{envelope.type} is appended through {endpoint} only")


def _rank(role: str) -> int:
    return ROLE_RANK.get(role, 1)


def _roles_named(data: EventData) -> tuple[str, list[str]] | None:
    """(field, roles) that an event grants or revokes, if it is one that does."""
    if isinstance(data, RoleGranted | RoleRevoked):
        return "data.role", [data.role]
    if isinstance(data, UserRegistered | SealedRegistration):
        return "data.roles", list(data.roles)
    return None


def role_refusal(principal: Principal, data: EventData) -> Problem | None:
    """Why ``principal`` may not hand out (or take back) the roles ``data`` names, or None."""
    named = _roles_named(data)
    if named is None:
        return None
    field, roles = named
    if NOT_IN_DIRECTORY in roles:
        return Problem(
            field,
            "role_not_grantable",
            "platform_admin comes from the identity provider; no tenant API grants or revokes it",
        )
    own = max((_rank(r) for r in principal.roles), default=0)
    above = sorted(r for r in roles if _rank(r) > own)
    if above:
        return Problem(field, "role_above_own", f"you cannot grant or revoke {', '.join(above)}: it is above your own")
    return None


def self_service_refusal(principal: Principal, data: EventData) -> Problem | None:
    """Events any user appends for themselves: their exports, links, notification state.

    The user they name must be the caller, and an export's ``roles`` (the scope it runs
    in) at most the caller's own — otherwise an export would read more than its requester may.
    """
    if isinstance(data, AuditExportRequested) and not principal.has("auditor", "platform_admin"):
        return Problem("type", "role_required", "audit exports are for auditors (and platform_admin)")
    if isinstance(data, ExportRequested | AuditExportRequested):
        if data.requested_by != principal.user_id:
            return Problem("data.requested_by", "not_yourself", "an export is requested by its requester only")
        beyond = sorted(set(data.roles) - principal.roles)
        if beyond:
            return Problem("data.roles", "role_above_own", f"an export cannot run as {', '.join(beyond)}: not yours")
    if isinstance(data, NotificationPreferencesChanged | NotificationRead) and data.user_id != principal.user_id:
        return Problem("data.user_id", "not_yourself", "notification settings are changed by their user only")
    return None


SELF_SERVICE = (
    ExportRequested,
    AuditExportRequested,
    ExportLinkIssued,
    NotificationPreferencesChanged,
    NotificationRead,
)


def append_refusal(
    principal: Principal, envelope: Envelope, data: EventData, *, also: tuple[str, ...] = ()
) -> Problem | None:
    """Why ``principal`` may not append this event, or None when it may (``also``: roles an
    endpoint has already vetted for this one event, on top of the rule)."""
    if envelope.tenantid != principal.tenant_id and not principal.has("platform_admin"):
        return Problem(
            "tenantid",
            "tenant_forbidden",
            f"your token is for tenant {principal.tenant_id!r}, not {envelope.tenantid!r}",
        )
    if isinstance(data, TenantCreated):
        if not principal.has("platform_admin"):
            return Problem("type", "role_required", "only a platform_admin may create a tenant")
        return None
    if data.KIND == "system":
        if not principal.has("platform_admin"):
            return Problem(
                "type",
                "role_required",
                f"{envelope.type} is appended by the scheduler (or a platform_admin backfilling)",
            )
        return None
    if isinstance(data, SELF_SERVICE):
        return self_service_refusal(principal, data)
    allowed = (LEARNER_EVENT_WRITERS if data.KIND == "learner" else MUTATION_WRITERS) + (
        EXTRA_WRITERS.get(envelope.type, ()) + also
    )
    if not principal.has(*allowed):
        return Problem("type", "role_required", f"{envelope.type} needs one of the roles {', '.join(allowed)}")
    return role_refusal(principal, data)
