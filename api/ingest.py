"""``POST /v1/events``: append CloudEvents to the log, one at a time or in batches."""

from __future__ import annotations

import json
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from api.deps import CurrentPrincipal, InboxDep, SettingsDep
from api.policy import append_refusal
from api.problems import PROBLEM_JSON, Problem, problem_responses
from events.errors import LogError
from schemas.envelope import BATCH_CONTENT_TYPE, CONTENT_TYPE
from schemas.validation import Invalid, validate_event

router = APIRouter(tags=["ingest"], responses=problem_responses(400, 401, 413, 415, 422, 503))


class FieldProblem(BaseModel):
    field: str
    rule: str
    message: str


class EventResult(BaseModel):
    index: int
    id: str | None
    status: Literal["accepted", "duplicate", "rejected"]
    problems: list[FieldProblem] = []


class IngestResponse(BaseModel):
    accepted: int
    duplicates: int
    rejected: int
    results: list[EventResult]


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


@router.post(
    "/v1/events",
    status_code=202,
    response_model=IngestResponse,
    openapi_extra=OPENAPI_BODY,
    summary="Append events (CloudEvents 1.0, structured or batch mode)",
    responses={400: _PROBLEM, 401: _PROBLEM, 413: _PROBLEM, 415: _PROBLEM, 503: _PROBLEM},
)
async def ingest_events(
    request: Request, principal: CurrentPrincipal, inbox: InboxDep, settings: SettingsDep
) -> IngestResponse:
    """Every event gets a result: ``accepted`` (durably appended to the inbox; the log
    will hold it exactly once), ``duplicate`` (its id repeats one earlier in the
    request, or one this server has already seen in the log), or ``rejected`` with the
    field and rule it broke. Valid events are appended even when siblings are rejected.
    ``actor`` is always the token's user."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in (CONTENT_TYPE, BATCH_CONTENT_TYPE):
        raise Problem(
            415,
            "Unsupported media type",
            f"send {CONTENT_TYPE} (one event) or {BATCH_CONTENT_TYPE} (an array)",
        )
    body = await _read_limited(request, settings.api.max_body_bytes)
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise Problem(400, "Malformed JSON", f"the body is not valid JSON: {err}") from err
    items = _items(content_type, payload, settings.api.max_batch_events)

    tail = request.app.state.logtail
    results: list[EventResult] = []
    records: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for index, raw in enumerate(items):
        event_id = raw.get("id") if isinstance(raw, dict) and isinstance(raw.get("id"), str) else None
        if isinstance(raw, dict):
            raw = {**raw, "actor": principal.user_id}
        judged = validate_event(raw)
        if not isinstance(judged, Invalid):
            refusal = append_refusal(principal, judged.envelope, judged.data)
            judged = Invalid((refusal,)) if refusal else judged
        if isinstance(judged, Invalid):
            problems = [FieldProblem(field=p.field, rule=p.rule, message=p.message) for p in judged.problems]
            results.append(EventResult(index=index, id=event_id, status="rejected", problems=problems))
            continue
        key = (judged.envelope.tenantid, judged.envelope.id)
        if key in seen or tail.appended(*key):
            results.append(EventResult(index=index, id=event_id, status="duplicate"))
            continue
        seen.add(key)
        records.append(judged.record)
        results.append(EventResult(index=index, id=event_id, status="accepted"))
    try:
        await run_in_threadpool(inbox.append, records)
    except LogError as err:
        raise Problem(
            503,
            "Log unavailable",
            f"{err}; nothing was lost on our side, retry the request",
            headers={"Retry-After": "5"},
        ) from err
    counts = {s: sum(r.status == s for r in results) for s in ("accepted", "duplicate", "rejected")}
    return IngestResponse(
        accepted=counts["accepted"],
        duplicates=counts["duplicate"],
        rejected=counts["rejected"],
        results=results,
    )
