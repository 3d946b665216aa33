"""Version 2 of the event types whose contract grew since version 1.

A published version never changes; a new one gets a model here and an upcaster from
the previous one (``schemas.registry.UPCASTERS``), applied on the read path every
consumer uses (``schemas.validation.validate_log_record``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

from schemas.types import ROLES, Email, EventData, Id, Name, Role

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


class Sealed(BaseModel):
    """Personal fields sealed with AES-256-GCM under the subject's data key ``kid``
    (``schemas/sealing.py``; NIST SP 800-38D). ``ciphertext`` includes the 16-byte tag."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    alg: Literal["A256GCM"]
    kid: str = Field(pattern=r"^[0-9a-f]{16}$", description="The data key's id (subject_keys.kid).")
    nonce: str = Field(pattern=r"^[A-Za-z0-9_-]{16}$", description="96-bit nonce, base64url without padding.")
    ciphertext: str = Field(
        min_length=22,
        max_length=4096,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="AES-256-GCM ciphertext and tag, base64url without padding.",
    )


class Unsealed(BaseModel):
    """Personal fields in plaintext: only a record written before encryption existed (a v1
    ``user.registered``, upcast on read) holds them; refused at the door."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    alg: Literal["none"]
    display_name: Name
    email: Email


class UserRegistered(EventData):
    """A user was registered with their roles in the tenant; their name and e-mail are sealed.

    ``personal`` seals ``{"display_name", "email"}`` under the user's data key, with the
    additional data ``["skillmind-personal/1", tenant, user_id, "user.registered"]``. v2 adds
    the seal; a v1 record reads as v2 with ``personal.alg = "none"`` (plaintext, refused at
    the door: only records written before encryption existed hold it).
    """

    TYPE = "user.registered"
    VERSION = 2
    KIND = "mutation"
    user_id: Id
    roles: list[Role] = Field(max_length=len(ROLES))
    personal: Sealed | Unsealed = Field(discriminator="alg")

    def admission_problems(self) -> list[tuple[str, str, str]]:
        """A new record seals its personal fields; the log still reads the plaintext of records
        written before encryption existed (v1, upcast)."""
        if isinstance(self.personal, Unsealed):
            return [
                ("data.personal", "personal_not_sealed", "personal fields must be sealed (POST /v1/users seals them)")
            ]
        return []


def user_registered_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """v1 plaintext ``display_name``/``email`` become ``personal`` with ``alg: "none"``."""
    personal = {"alg": "none", "display_name": data["display_name"], "email": data["email"]}
    return {"user_id": data["user_id"], "roles": list(data["roles"]), "personal": personal}


MODELS: tuple[type[EventData], ...] = (TenantCapabilitiesChanged, UserRegistered)
UPCASTERS = {
    ("tenant.capabilities_changed", 1): capabilities_v1_to_v2,
    ("user.registered", 1): user_registered_v1_to_v2,
}
