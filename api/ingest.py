"""``POST /v1/events``: append CloudEvents to the log, one at a time or in batches."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal

import orjson
import psycopg
from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from psycopg import sql
from psycopg_pool import ConnectionPool
from pydantic import BaseModel, Field

from api.auth import Principal
from api.db import PoolDep
from api.deps import CurrentPrincipal, InboxDep, SettingsDep
from api.logtail import LogTail
from api.policy import append_refusal, endpoint_only_refusal
from api.problems import PROBLEM_JSON, Problem, problem_responses
from api.subjects import sealed_registration
from events.chain import NOT_READ, read_fast
from events.errors import LogError
from events.idempotency import encoded_with_digest
from projections.engagement import ScoreSettings
from projections.errors import SubjectErasedError
from projections.facts import fact_day
from projections.keyring import Keyring
from projections.late import SHORTEST_WINDOW_DAYS, counts_in_stored_scores
from projections.runner import READ_MODEL_SCHEMA
from projections.tables import TENANT_SETTINGS
from schemas.envelope import BATCH_CONTENT_TYPE, CONTENT_TYPE
from schemas.timebounds import time_problem
from schemas.v1 import UserRegistered as Registration
from schemas.validation import Invalid, Valid, validate_event
from schemas.validation import Problem as ValidationProblem
from skillmind.settings import ContractSettings, Settings

router = APIRouter(tags=["ingest"], responses=problem_responses(400, 401, 413, 415, 422, 503))


class FieldProblem(BaseModel):
    field: str
    rule: str
    message: str


Status = Literal["accepted", "duplicate", "conflict", "rejected"]


class EventResult(BaseModel):
    index: int
    id: str | None
    status: Status
    problems: list[FieldProblem] = []
    changes_stored_scores: bool | None = Field(
        None,
        description="For an accepted learner event: false when it is dated before the re-score horizon "
        "(one window before yesterday) — logged, but no stored score is re-computed for it; "
        "true otherwise. Absent for events no score reads.",
    )


class IngestResponse(BaseModel):
    accepted: int
    duplicates: int
    conflicts: int
    rejected: int
    results: list[EventResult]


@dataclass(slots=True)
class _Result:
    """An :class:`EventResult` as the handler builds it: the response is written straight from
    these by orjson (500 pydantic models, validated again on the way out, cost a third of a
    request), with the same fields in the same order."""

    index: int
    id: str | None
    status: Status
    problems: list[dict[str, str]] = field(default_factory=list)
    changes_stored_scores: bool | None = None


def _problem(field: str, rule: str, message: str) -> dict[str, str]:
    return {"field": field, "rule": rule, "message": message}


@dataclass(frozen=True)
class _Candidate:
    """A valid, permitted, encodable event waiting for its id to be settled."""

    index: int
    key: tuple[str, str]  # (tenant, id)
    digest: str
    message: tuple[bytes, bytes]
    fact_day: date | None  # the day a score reads it on (projections.facts.fact_day)


_EXAMPLE_EVENT = {
    "specversion": "1.0",
    "id": "evt-0001",
    "source": "/lms/web",
    "type": "learner.signed_in",
    "time": "2026-11-27T08:30:00Z",
    "tenantid": "acme",
    "subject": "learner-42",
    "data": {"learner_id": "learner-42"},
}
_PROBLEM = {"content": {PROBLEM_JSON: {"schema": {"type": "object"}}}}

OPENAPI_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            CONTENT_TYPE: {"schema": {"type": "object"}, "example": _EXAMPLE_EVENT},
            BATCH_CONTENT_TYPE: {
                "schema": {"type": "array", "items": {"type": "object"}},
                "example": [_EXAMPLE_EVENT],
            },
        },
    }
}


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise Problem(413, "Content too large", f"the body is {declared} bytes; the limit is {limit}")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise Problem(413, "Content too large", f"the body exceeds the limit of {limit} bytes")
    return bytes(body)


def _refuse_constant(name: str) -> Any:
    raise Problem(400, "Malformed JSON", f"the body is not valid JSON: {name} is not a JSON number")


def parse_json(body: bytes) -> Any:
    """Strict JSON (RFC 8259): UTF-8 only, and no ``NaN``/``Infinity`` literals. orjson reads
    what it reads exactly as the standard library does (``events.chain.read_fast``); the
    standard library reads the rest and says what is wrong."""
    parsed = read_fast(body)
    if parsed is not NOT_READ:
        return parsed
    try:
        return json.loads(body.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise Problem(400, "Malformed JSON", f"the body is not valid UTF-8 JSON: {err}") from err
    except RecursionError as err:
        raise Problem(400, "Malformed JSON", "the body nests too deeply (at most 16 levels are allowed)") from err
    except ValueError as err:  # e.g. an integer of more digits than Python converts
        raise Problem(400, "Malformed JSON", f"the body holds a number no event can have: {err}") from err


def _items(content_type: str, payload: Any, max_batch: int) -> list[Any]:
    if content_type == BATCH_CONTENT_TYPE:
        if not isinstance(payload, list):
            raise Problem(400, "Not a batch", f"{BATCH_CONTENT_TYPE} needs a JSON array of events")
        if len(payload) > max_batch:
            raise Problem(413, "Batch too large", f"{len(payload)} events in one batch; the limit is {max_batch}")
        return payload
    if not isinstance(payload, dict):
        raise Problem(400, "Not an event", f"{CONTENT_TYPE} needs one JSON object; send arrays as {BATCH_CONTENT_TYPE}")
    return [payload]


def _rejected(index: int, raw: Any, problems: tuple[ValidationProblem, ...]) -> _Result:
    event_id = raw.get("id") if isinstance(raw, dict) and isinstance(raw.get("id"), str) else None
    return _Result(index, event_id, "rejected", [_problem(p.field, p.rule, p.message) for p in problems])


@dataclass(frozen=True)
class _Clock:
    """The request's time and the event times the contract accepts at it, computed once."""

    now: datetime
    contract: ContractSettings
    earliest: datetime
    latest: datetime

    @classmethod
    def at(cls, now: datetime, contract: ContractSettings) -> _Clock:
        return cls(now, contract, now - contract.horizon, now + contract.max_future)

    def problem(self, value: datetime) -> ValidationProblem | None:
        if self.earliest <= value <= self.latest:
            return None
        return time_problem(value, self.now, max_future=self.contract.max_future, horizon=self.contract.horizon)


def _judge(index: int, raw: Any, principal: Principal, clock: _Clock, seal: Sealer) -> _Candidate | _Result:
    """Validate, authorise, bound in time and encode one event; a rejection says why."""
    if isinstance(raw, dict):
        raw = {**raw, "actor": principal.user_id}
    judged = validate_event(raw)
    if (
        isinstance(judged, Valid)
        and isinstance(judged.data, Registration)
        and not append_refusal(principal, judged.envelope, judged.data)
    ):
        judged = _sealed(raw, judged.envelope.tenantid, judged.data, seal)
    if isinstance(judged, Invalid):
        return _rejected(index, raw, judged.problems)
    refusal = (
        endpoint_only_refusal(judged.envelope)
        or append_refusal(principal, judged.envelope, judged.data)
        or clock.problem(judged.envelope.time)
    )
    if refusal:
        return _rejected(index, raw, (refusal,))
    record = judged.record
    try:
        value, digest = encoded_with_digest(record)  # the inbox message is keyed as events.inbox.encode keys it
    except ValueError as err:  # e.g. an integer JCS (and JavaScript) cannot represent
        return _rejected(
            index, raw, (ValidationProblem("$", "not_encodable", f"cannot be encoded canonically: {err}"),)
        )
    key = (judged.envelope.tenantid, judged.envelope.id)
    return _Candidate(index, key, digest, (record["tenantid"].encode(), value), fact_day(record))


# Seals a v1 registration's name and e-mail: (tenant, registration) -> v2 data.
Sealer = Callable[[str, Registration], dict[str, Any]]


def _sealed(raw: dict[str, Any], tenant: str, registration: Registration, seal: Sealer) -> Valid | Invalid:
    """A v1 ``user.registered`` as the log takes it: v2, its personal fields sealed."""
    try:
        data = seal(tenant, registration)
    except SubjectErasedError as err:
        return Invalid((ValidationProblem("data.user_id", "subject_erased", str(err)),))
    return validate_event({**raw, "schemaversion": 2, "data": data})


def _conflict(candidate: _Candidate, where: str) -> _Result:
    message = f"id {candidate.key[1]!r} is used with different content {where}"
    return _Result(candidate.index, candidate.key[1], "conflict", [_problem("id", "id_conflict", message)])


def _settle(candidates: list[_Candidate], tail: LogTail) -> tuple[list[_Result], list[tuple[bytes, bytes]]]:
    """Decide each id once for the whole batch, so the answer does not depend on order:
    an id with two contents in the request, or another content in the log, is a
    conflict for every copy (nothing stored); one content is stored once, and every
    other copy of it is a duplicate."""
    contents: dict[tuple[str, str], set[str]] = defaultdict(set)
    for candidate in candidates:
        contents[candidate.key].add(candidate.digest)
    results, messages, taken = [], [], set()
    in_logs = tail.digests_in_log(contents)
    for c in candidates:
        in_log = in_logs.get(c.key)
        if len(contents[c.key]) > 1:
            results.append(_conflict(c, "twice in this request"))
        elif in_log is not None and in_log != c.digest:
            results.append(_conflict(c, "than the event already in the log"))
        elif in_log is not None or c.key in taken:
            results.append(_Result(c.index, c.key[1], "duplicate"))
        else:
            taken.add(c.key)
            messages.append(c.message)
            results.append(_Result(c.index, c.key[1], "accepted"))
    return results, messages


def judge_request(
    content_type: str, body: bytes, principal: Principal, tail: LogTail, settings: Settings, pool: ConnectionPool
) -> tuple[list[_Result], list[tuple[bytes, bytes]]]:
    """Every event's result and the inbox messages to produce; CPU work, run off the event loop.

    Nothing is produced before the whole batch is judged and encoded, so each result
    is exactly what happens to its event."""
    items = _items(content_type, parse_json(body), settings.api.max_batch_events)
    now = datetime.now(UTC)
    keyring = Keyring(settings.privacy.kek_bytes())

    def seal(tenant: str, registration: Registration) -> dict[str, Any]:
        return sealed_registration(pool, keyring, tenant, registration)

    clock = _Clock.at(now, settings.contract)
    judged = [_judge(i, raw, principal, clock, seal) for i, raw in enumerate(items)]
    candidates = [j for j in judged if isinstance(j, _Candidate)]
    results, messages = _settle(candidates, tail)
    _mark_late(results, candidates, now.date(), lambda tenants: window_days(pool, tenants))
    results += [j for j in judged if isinstance(j, _Result)]
    return sorted(results, key=lambda r: r.index), messages


def window_days(pool: ConnectionPool, tenants: set[str]) -> dict[str, int]:
    """The window length of each of ``tenants`` as the read models know it (default where unset)."""
    query = sql.SQL("select tenant_id, window_days from {} where tenant_id = any(%s)").format(
        sql.Identifier(READ_MODEL_SCHEMA, TENANT_SETTINGS.name)
    )
    known: dict[str, int] = {}
    try:
        with pool.connection() as conn:
            known = {tenant: w for tenant, w in conn.execute(query, [list(tenants)]).fetchall() if w}
    except psycopg.errors.UndefinedTable:  # read models not built yet: ingest never waits for them
        pass
    return {tenant: known.get(tenant, ScoreSettings.window_days) for tenant in tenants}


def _mark_late(
    results: list[_Result], candidates: list[_Candidate], today: date, windows: Callable[[set[str]], dict[str, int]]
) -> None:
    """Say of each accepted learner event whether it can change stored scores (the rule:
    ``projections.late.counts_in_stored_scores``). The read models are asked for windows only
    when an event is too old for the shortest window, which is the usual case's fast path."""
    dated = {c.index: c for c in candidates if c.fact_day is not None}
    accepted = [(r, dated[r.index]) for r in results if r.status == "accepted" and r.index in dated]
    old = {
        c.key[0]
        for _, c in accepted
        if c.fact_day is not None and not counts_in_stored_scores(c.fact_day, today, SHORTEST_WINDOW_DAYS)
    }
    window = windows(old) if old else {}
    for result, c in accepted:
        days = window.get(c.key[0], SHORTEST_WINDOW_DAYS)
        result.changes_stored_scores = counts_in_stored_scores(c.fact_day, today, days)  # type: ignore[arg-type]


@router.post(
    "/v1/events",
    status_code=202,
    response_model=IngestResponse,
    openapi_extra=OPENAPI_BODY,
    summary="Append events (CloudEvents 1.0, structured or batch mode)",
    responses={400: _PROBLEM, 401: _PROBLEM, 413: _PROBLEM, 415: _PROBLEM, 503: _PROBLEM},
)
async def ingest_events(
    request: Request, principal: CurrentPrincipal, inbox: InboxDep, settings: SettingsDep, pool: PoolDep
) -> Response:
    """Every event gets a result: ``accepted`` (durably appended to the inbox; the log
    will hold it exactly once), ``duplicate`` (the same id with the same content earlier
    in the request or already in the log as far as this server has seen), ``conflict``
    (the id with different content, in the request or in the log: nothing stored), or
    ``rejected`` with the field and rule it broke. Valid events are appended even when
    siblings are rejected. ``actor`` is always the token's user."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in (CONTENT_TYPE, BATCH_CONTENT_TYPE):
        raise Problem(
            415,
            "Unsupported media type",
            f"send {CONTENT_TYPE} (one event) or {BATCH_CONTENT_TYPE} (an array)",
        )
    body = await _read_limited(request, settings.api.max_body_bytes)
    tail = request.app.state.logtail
    results, messages = await run_in_threadpool(judge_request, content_type, body, principal, tail, settings, pool)
    try:
        await run_in_threadpool(inbox.append_encoded, messages)
    except LogError as err:
        raise Problem(
            503,
            "Log unavailable",
            f"{err}; nothing was lost on our side, retry the request",
            headers={"Retry-After": "5"},
        ) from err
    counts = Counter(r.status for r in results)
    answer = {
        "accepted": counts["accepted"],
        "duplicates": counts["duplicate"],
        "conflicts": counts["conflict"],
        "rejected": counts["rejected"],
        "results": results,
    }
    # The body is an IngestResponse (the declared response model), written by orjson in one go.
    return Response(orjson.dumps(answer), status_code=202, media_type="application/json")
