"""Version 2 of the event types whose contract grew since version 1.

A published version never changes; a new one gets a model here and an upcaster from
the previous one (``schemas.registry.UPCASTERS``), applied on the read path every
consumer uses (``schemas.validation.validate_log_record``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StrictBool, model_validator

from schemas.types import ROLES, EventData, Role

CAPABILITIES = ("exports.csv", "exports.pdf", "exports.parquet", "exports.bulk", "audit.export")
Capability = Literal["exports.csv", "exports.pdf", "exports.parquet", "exports.bulk", "audit.export"]
RoleList = Annotated[list[Role], Field(max_length=len(ROLES))]


class TenantCapabilitiesChanged(EventData):
    """Export capabilities switched on or off, and optionally restricted to some roles.

    ``flags`` not named keep their value; ``roles`` maps a capability to the roles that may
    use it (an empty list lifts the restriction). v2 adds ``exports.parquet`` and ``roles``;
    a v1 record reads as v2 with no restriction.
    """

    TYPE = "tenant.capabilities_changed"
    VERSION = 2
    KIND = "mutation"
    flags: dict[Capability, StrictBool] = Field(default_factory=dict)
    roles: dict[Capability, RoleList] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _says_something(self) -> TenantCapabilitiesChanged:
        if not self.flags and not self.roles:
            raise ValueError("name at least one capability in flags or roles")
        return self


def capabilities_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """v1 ``{"flags": {...}}`` is v2 with no role restriction."""
    return {"flags": dict(data["flags"]), "roles": {}}


MODELS: tuple[type[EventData], ...] = (TenantCapabilitiesChanged,)
UPCASTERS = {("tenant.capabilities_changed", 1): capabilities_v1_to_v2}
