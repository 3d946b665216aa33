"""Who may append what. One rule, used by the HTTP ingest and by every mutation endpoint."""

from __future__ import annotations

from api.auth import Principal
from schemas.envelope import Envelope
from schemas.types import EventData
from schemas.v1 import TenantCreated
from schemas.validation import Problem

LEARNER_EVENT_WRITERS = ("ingest", "company_admin", "platform_admin")
MUTATION_WRITERS = ("company_admin", "platform_admin")


def append_refusal(principal: Principal, envelope: Envelope, data: EventData) -> Problem | None:
    """Why ``principal`` may not append this event, or None when it may."""
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
    allowed = LEARNER_EVENT_WRITERS if data.KIND == "learner" else MUTATION_WRITERS
    if not principal.has(*allowed):
        return Problem("type", "role_required", f"{envelope.type} needs one of the roles {', '.join(allowed)}")
    return None
