"""Personal fields as the read models see them: opened, or erased.

``user.registered`` v2 carries the person's name and e-mail sealed (``schemas/sealing.py``);
the read-model writer opens them through an :data:`Unseal` it is given (the keyring over
PostgreSQL) and the pure fold sees :func:`directory_data`. A field that cannot be opened —
the key destroyed by an erasure — reads as :data:`ERASED_NAME` and a null e-mail, exactly
what the fold of ``subject.erased`` writes, so a replay after an erasure gives the same rows
as the live tables. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from schemas.v2 import Unsealed, UserRegistered

ERASED_NAME = "[erased]"
# (tenant, subject, sealed envelope, event type) -> the opened fields, or None when unreadable.
Unseal = Callable[[str, str, Mapping[str, Any], str], dict[str, Any] | None]
ERASED: dict[str, Any] = {"display_name": ERASED_NAME, "email": None}


def never_unseal(tenant: str, subject: str, envelope: Mapping[str, Any], event_type: str) -> None:
    """The unseal of a reader without keys: every sealed field reads as erased."""
    return None


def _opened(fields: Mapping[str, Any] | None) -> dict[str, Any]:
    if fields is None or not isinstance(fields.get("display_name"), str) or not isinstance(fields.get("email"), str):
        return dict(ERASED)
    return {"display_name": fields["display_name"], "email": fields["email"]}


def directory_data(tenant: str, data: UserRegistered, unseal: Unseal) -> dict[str, Any]:
    """``{"user_id", "roles", "display_name", "email", "sealed"}`` of a registration: plaintext
    from a record written before encryption (``sealed`` false), else the opened fields, or
    :data:`ERASED` when they cannot be opened."""
    base = {"user_id": data.user_id, "roles": list(data.roles)}
    if isinstance(data.personal, Unsealed):
        return {**base, "display_name": data.personal.display_name, "email": data.personal.email, "sealed": False}
    opened = unseal(tenant, data.user_id, data.personal.model_dump(), UserRegistered.TYPE)
    return {**base, **_opened(opened), "sealed": True}
