"""People in the log: registration with sealed personal fields, and erasure by crypto-shredding.

``POST /v1/users`` takes the name and e-mail in plaintext over TLS and appends
``user.registered`` v2 with them sealed under the user's data key (``schemas/sealing.py``,
``projections/keyring.py``); the HTTP ingest seals a v1 ``user.registered`` the same way.
Only writers around the API (straight to the inbox) can still append plaintext (v1).

``POST /v1/subjects/{subject_id}/erasure`` (the tenant's company_admin) appends
``subject.erased`` and then destroys the subject's data key: every sealed field about them
reads as erased from then on, in the read models, exports and any replay; the chain, which
covers ciphertext, still verifies. 409 while an active legal hold of the tenant, or of the
subject as a learner, covers them (``projections/holds.py``). Records about them written before encryption
existed are listed in the receipt and redacted in the archive (``jobs/erasure.py``). Order:
the record first, the key after — a crash in between leaves a record whose retry (same derived id, a duplicate)
destroys the key; never a destroyed key without its record.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

import psycopg
import structlog
from fastapi import APIRouter, Path, Request
from fastapi.concurrency import run_in_threadpool
from minio.error import S3Error
from psycopg import sql
from psycopg_pool import ConnectionPool
from pydantic import BaseModel, Field

from api.db import PoolDep
from api.deps import CurrentPrincipal, Reader, SettingsDep
from api.mutations import Accepted, TenantParam, WaitParam, _tenant_of, append_mutation, caught_up, invalid_mutation
from api.problems import Problem, problem_responses
from events.errors import LogError
from jobs.erasure import expire_exports, redact_archive, redact_snapshots
from projections import tables as t
from projections.errors import SubjectErasedError
from projections.holds_sql import active_sql
from projections.keyring import Keyring
from projections.runner import READ_MODEL_SCHEMA
from schemas import sealing
from schemas.types import Id
from schemas.v1 import SubjectErased
from schemas.v1 import UserRegistered as Registration
from schemas.v2 import UserRegistered
from schemas.validation import Invalid, validate_event
from skillmind.settings import Settings

log = structlog.get_logger(__name__)
router = APIRouter(tags=["people and erasure"], responses=problem_responses(401, 403, 404, 409, 422, 503))
ERASERS = ("company_admin",)


def _keyring(settings: Settings) -> Keyring:
    return Keyring(settings.privacy.kek_bytes())


def sealed_registration(pool: ConnectionPool, keyring: Keyring, tenant: str, body: Registration) -> dict[str, Any]:
    """The ``user.registered`` v2 data of a v1 registration: name and e-mail sealed under the
    user's data key (made on first use). Raises ``SubjectErasedError`` for an erased user."""
    with pool.connection() as conn:
        kid, key = keyring.sealing_key(conn, tenant, body.user_id)
    fields = {"display_name": body.display_name, "email": body.email}
    personal = sealing.seal(key, kid, fields, sealing.aad(tenant, body.user_id, UserRegistered.TYPE))
    return {"user_id": body.user_id, "roles": list(body.roles), "personal": personal}


def _judge_plaintext(tenant: str, body: Registration) -> None:
    """The door's rules (``validate_event``) on the plaintext, before it is sealed out of sight:
    e.g. no control characters in a name or an e-mail. Raises the 422 problem."""
    event = {
        "specversion": "1.0",
        "id": "plaintext-check",
        "source": "/skillmind/api",
        "type": UserRegistered.TYPE,
        "time": "2026-01-01T00:00:00Z",
        "tenantid": tenant,
        "schemaversion": Registration.VERSION,
        "data": body.model_dump(mode="json"),
    }
    judged = validate_event(event)
    if isinstance(judged, Invalid):
        raise invalid_mutation(judged)


@router.post("/v1/users", status_code=202, response_model=Accepted, summary="Register a user with roles")
async def register_user(
    request: Request,
    principal: CurrentPrincipal,
    pool: PoolDep,
    settings: SettingsDep,
    body: Registration,
    tenant_id: TenantParam = None,
    wait: WaitParam = True,
) -> Accepted:
    """Append ``user.registered`` v2, the name and e-mail sealed under the user's data key.

    403 before any key is made for a caller who may not register users; 409 when the user
    was erased (no key is ever made for them again)."""
    tenant = _tenant_of(principal, tenant_id)
    if not principal.has("company_admin", "platform_admin"):
        raise Problem(403, "Forbidden", "user.registered needs one of the roles company_admin, platform_admin")
    _judge_plaintext(tenant, body)
    try:
        data = await run_in_threadpool(sealed_registration, pool, _keyring(settings), tenant, body)
    except SubjectErasedError as err:
        raise Problem(409, "Subject erased", str(err)) from err
    return await append_mutation(request, principal, tenant, UserRegistered.TYPE, data, wait)


class Erasure(BaseModel):
    event_id: str
    tenant_id: str
    subject_id: str
    position: int | None = Field(description="The `subject.erased` record's sequence (null if not yet placed).")
    key_destroyed: bool = Field(description="A data key was destroyed now (false: none existed, or already gone).")
    unsealed_sequences: list[int] = Field(
        description="Records about the subject written before encryption existed: their plaintext stays in the "
        "hot Kafka log until `skillmind archive trim`; the archive rewrite stubs their data."
    )


def _readmodel(table: t.Table) -> sql.Identifier:
    return sql.Identifier(READ_MODEL_SCHEMA, table.name)


def _holds_covering(pool: ConnectionPool, tenant: str, subject: str) -> list[str]:
    """Active holds of the tenant that cover the subject: tenant-wide, or on them as a learner."""
    query = sql.SQL(
        "select h.hold_id from {holds} h where h.tenant_id = %s "
        "and (h.scope = 'tenant' or (h.scope = 'learner' and h.scope_id = %s)) and {active} order by h.hold_id"
    ).format(holds=_readmodel(t.LEGAL_HOLDS), active=active_sql(READ_MODEL_SCHEMA))
    with pool.connection() as conn:
        return [row[0] for row in conn.execute(query, [tenant, subject]).fetchall()]


def _unsealed(pool: ConnectionPool, tenant: str, subject: str) -> list[int] | None:
    """The subject's plaintext records, or None when the directory does not know them."""
    with pool.connection() as conn:
        known = conn.execute(
            sql.SQL("select 1 from {} where tenant_id = %s and user_id = %s").format(_readmodel(t.USERS)),
            [tenant, subject],
        ).fetchone()
        rows = conn.execute(
            sql.SQL("select sequence from {} where tenant_id = %s and subject_id = %s order by sequence").format(
                _readmodel(t.UNSEALED_RECORDS)
            ),
            [tenant, subject],
        ).fetchall()
    return [row[0] for row in rows] if known else None


def _destroy(pool: ConnectionPool, keyring: Keyring, tenant: str, subject: str) -> bool:
    with pool.connection() as conn:
        return keyring.destroy(conn, tenant, subject)


def _redact(settings: Settings, tenant: str, subject: str, unsealed: list[int]) -> None:
    """Redact the plaintext records already archived and the snapshots' rows, expire the
    tenant's exports (any may name the person); the scheduler's hourly pass redacts what the
    archiver stores later (and these, should this fail)."""
    try:
        redact_archive(settings, tenant, unsealed)
        redact_snapshots(settings, {tenant: {subject}})
        expire_exports(settings, tenant)
    except (psycopg.Error, S3Error, OSError, LogError) as err:
        log.warning("erasure.archive_redaction_deferred", tenant=tenant, error=str(err))


def erasure_id(subject: str) -> str:
    """The id of a subject's erasure record, derived so a retry is a duplicate."""
    return f"erasure-{hashlib.sha256(subject.encode()).hexdigest()[:32]}"


@router.post(
    "/v1/subjects/{subject_id}/erasure",
    status_code=202,
    response_model=Erasure,
    summary="Erase a person (crypto-shredding)",
)
async def erase_subject(
    request: Request,
    principal: Reader,
    pool: PoolDep,
    settings: SettingsDep,
    subject_id: Annotated[Id, Path()],
) -> Erasure:
    """Append ``subject.erased`` for a user of the caller's tenant, then destroy their data key.

    403 unless the caller is the tenant's company_admin; 404 for a subject the directory
    does not know; 409 while a legal hold covers them. ``min_position`` waits until the read
    models (holds, directory) include the tenant's log up to it. Idempotent: a repeat appends
    nothing new and answers the same."""
    tenant = principal.tenant_id
    if not principal.has(*ERASERS):
        raise Problem(
            403, "Forbidden", "erasure needs the role company_admin of the subject's tenant", rule="role_required"
        )
    # The directory and the holds are read models: judge them only once they hold everything
    # this replica has seen appended for the tenant (a registration or a hold placed a moment
    # ago included); else 409 "not yet visible", retry — never an erasure a new hold forbids.
    await caught_up(request, tenant, settings.api.read_your_writes_timeout_s)
    unsealed = await run_in_threadpool(_unsealed, pool, tenant, subject_id)
    if unsealed is None:
        raise Problem(404, "Not found", f"subject {subject_id!r} is not in tenant {tenant!r}'s directory")
    holds = await run_in_threadpool(_holds_covering, pool, tenant, subject_id)
    if holds:
        raise Problem(409, "Held", f"legal holds cover subject {subject_id!r}: {', '.join(holds)}", hold_ids=holds)
    data = {"subject_id": subject_id, "unsealed_sequences": unsealed}
    accepted = await append_mutation(
        request, principal, tenant, SubjectErased.TYPE, data, True, also=ERASERS, event_id=erasure_id(subject_id)
    )
    destroyed = await run_in_threadpool(_destroy, pool, _keyring(settings), tenant, subject_id)
    await run_in_threadpool(_redact, settings, tenant, subject_id, unsealed)
    log.info("subject.erased", tenant=tenant, subject=subject_id, key_destroyed=destroyed, unsealed=len(unsealed))
    return Erasure(
        event_id=accepted.event_id,
        tenant_id=tenant,
        subject_id=subject_id,
        position=accepted.position,
        key_destroyed=destroyed,
        unsealed_sequences=unsealed,
    )
