"""HTTP ingest → inbox → sequencer → log, against the real broker."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from api.app import create_app
from api.auth import mint_token
from events.inbox import InboxWriter
from events.topics import topic_name
from events.verify import verify_log
from schemas.envelope import BATCH_CONTENT_TYPE, CONTENT_TYPE
from schemas.examples import EXAMPLE_DATA, cloud_event
from schemas.validation import validate_event
from skillmind.settings import Settings
from tests.integration.logtools import log_records, running_sequencer, wait_drained

BATCH = {"Content-Type": BATCH_CONTENT_TYPE}


@pytest.fixture
def client(log_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(log_settings), raise_server_exceptions=False) as test_client:
        yield test_client


def auth(
    settings: Settings,
    tenant: str = "acme",
    roles: tuple[str, ...] = ("platform_admin",),
    user: str = "admin-1",
) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(settings.api, tenant=tenant, user=user, roles=list(roles))}"}


def post(client: TestClient, settings: Settings, events: Any, **kw: Any) -> Any:
    headers = {**BATCH, **auth(settings, **kw)}
    return client.post("/v1/events", content=json.dumps(events), headers=headers)


def acme_history(n: int) -> list[dict[str, Any]]:
    events = [
        cloud_event("tenant.created", {"tenant_id": "acme", "name": "Acme"}, tenant="acme", event_id="acme-created")
    ]
    events += [
        cloud_event(
            "learner.signed_in",
            {"learner_id": f"l{i % 7}"},
            tenant="acme",
            event_id=f"signin-{i}",
            actor="spoofed",
        )
        for i in range(n)
    ]
    return events


def test_round_trip_once_in_sequence_and_verified(client: TestClient, log_settings: Settings) -> None:
    events = acme_history(50)
    with running_sequencer(log_settings) as counters:
        first = post(client, log_settings, events)
        assert first.status_code == 202, first.text
        assert first.json()["accepted"] == 51
        wait_drained(log_settings)
        tail = client.app.state.logtail
        deadline = time.monotonic() + 10
        while not tail.appended("acme", events[-1]["id"]) and time.monotonic() < deadline:
            time.sleep(0.05)
        again = post(client, log_settings, events)  # the same batch, posted twice: the API knows
        assert again.status_code == 202
        assert again.json()["duplicates"] == 51 and again.json()["accepted"] == 0
        writer = InboxWriter(log_settings.kafka)  # and straight into the inbox: the sequencer knows
        writer.append([validate_event({**e, "actor": "admin-1"}).record for e in events])  # type: ignore[union-attr]
        writer.close()
        wait_drained(log_settings)
        assert counters.duplicates == 51

    records = log_records(log_settings)
    assert [r["id"] for r in records] == [e["id"] for e in events]
    assert [r["sequence"] for r in records] == list(range(1, 52))
    assert {r["actor"] for r in records} == {"admin-1"}, "actor is the token's user, never the client's"
    result = verify_log(log_settings.kafka, topic_name(log_settings.kafka, "log"))
    assert result.ok and result.verified == 51


def test_valid_events_survive_bad_siblings(client: TestClient, log_settings: Settings) -> None:
    good = acme_history(2)
    bad = cloud_event(
        "phase.advanced", {"learner_id": "l1", "program_id": "p", "phase": 0, "final": "no"}, tenant="acme"
    )
    response = post(client, log_settings, [good[0], bad, "not an event", good[1], good[1], good[2]])
    body = response.json()
    assert response.status_code == 202
    assert [r["status"] for r in body["results"]] == [
        "accepted",
        "rejected",
        "rejected",
        "accepted",
        "duplicate",
        "accepted",
    ]
    assert {p["field"] for p in body["results"][1]["problems"]} == {"data.phase", "data.final"}
    assert body["results"][2]["problems"][0]["field"] == "$"
    with running_sequencer(log_settings):
        wait_drained(log_settings)
    assert [r["id"] for r in log_records(log_settings)] == [good[0]["id"], good[1]["id"], good[2]["id"]]


def test_authorization_is_per_event(client: TestClient, log_settings: Settings) -> None:
    events = [
        cloud_event("learner.signed_in", {"learner_id": "l"}, tenant="acme"),
        cloud_event("learner.signed_in", {"learner_id": "l"}, tenant="beta"),
        cloud_event("program.created", EXAMPLE_DATA["program.created"], tenant="acme"),
    ]
    body = post(client, log_settings, events, roles=("ingest",)).json()
    assert [r["status"] for r in body["results"]] == ["accepted", "rejected", "rejected"]
    assert body["results"][1]["problems"][0]["rule"] == "tenant_forbidden"
    assert body["results"][2]["problems"][0]["rule"] == "role_required"


def test_transport_errors_are_problem_json(client: TestClient, log_settings: Settings) -> None:
    token = auth(log_settings)
    cases = [
        ({"Content-Type": "application/json", **token}, b"{}", 415),
        ({**BATCH, **token}, b"[{", 400),
        ({**BATCH, **token}, b"{}", 400),
        ({"Content-Type": CONTENT_TYPE, **token}, b"[]", 400),
        ({**BATCH, **token}, json.dumps([{}] * 1001).encode(), 413),
        ({**BATCH, **token}, b"[" + b" " * 5_000_001 + b"]", 413),
        (BATCH, b"[]", 401),
        ({**BATCH, "Authorization": "Bearer nonsense"}, b"[]", 401),
    ]
    for headers, body, status in cases:
        response = client.post("/v1/events", content=body, headers=headers)
        assert response.status_code == status, (headers, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["status"] == status and problem["title"] and problem["detail"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=12), c, max_size=5),
    max_leaves=15,
)
envelope_like = st.fixed_dictionaries(
    {
        "specversion": st.just("1.0"),
        "id": st.text(max_size=5),
        "type": st.sampled_from(sorted(EXAMPLE_DATA)),
        "source": st.just("/h"),
        "time": st.just("2026-11-01T00:00:00Z"),
        "tenantid": st.just("acme"),
        "data": st.dictionaries(st.sampled_from(["learner_id", "phase", "final", "cohort_id"]), json_values),
    },
)


@hsettings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(json_values | envelope_like, max_size=5) | json_values | st.binary(max_size=64))
def test_garbage_never_yields_5xx(client: TestClient, log_settings: Settings, body: Any) -> None:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = client.post("/v1/events", content=content, headers={**BATCH, **auth(log_settings)})
    assert response.status_code < 500, response.text


def _statuses(body: dict[str, Any]) -> list[str]:
    return [r["status"] for r in body["results"]]


def test_an_unencodable_event_is_rejected_before_anything_is_produced(
    client: TestClient, log_settings: Settings
) -> None:
    good = acme_history(2)
    huge = cloud_event(
        "phase.advanced", {"learner_id": "l1", "program_id": "p", "phase": 2**53 + 1, "final": False}, tenant="acme"
    )
    response = post(client, log_settings, [good[0], huge, good[1]])
    assert response.status_code == 202, response.text
    assert _statuses(response.json()) == ["accepted", "rejected", "accepted"]
    retry = post(client, log_settings, [huge])
    assert _statuses(retry.json()) == ["rejected"], "a refused event was not stored, so never a duplicate"
    with running_sequencer(log_settings):
        wait_drained(log_settings)
    assert [r["id"] for r in log_records(log_settings)] == [good[0]["id"], good[1]["id"]]


def test_same_id_with_other_content_is_a_conflict_whatever_the_order(
    client: TestClient, log_settings: Settings
) -> None:
    created = acme_history(0)[0]
    a = cloud_event("learner.signed_in", {"learner_id": "l1"}, tenant="acme", event_id="a")
    a_other = {**a, "data": {"learner_id": "l2"}}
    b = cloud_event("learner.signed_in", {"learner_id": "l1"}, tenant="acme", event_id="b")
    forward = post(client, log_settings, [created, a, a_other, b, b]).json()
    assert _statuses(forward) == ["accepted", "conflict", "conflict", "accepted", "duplicate"]
    assert forward["results"][1]["problems"][0] == {**forward["results"][1]["problems"][0], "field": "id"}
    assert forward["conflicts"] == 2
    backward = post(client, log_settings, [b, a_other, a]).json()
    assert _statuses(backward) == ["accepted", "conflict", "conflict"], "the same verdicts in any order"
    with running_sequencer(log_settings):
        wait_drained(log_settings)
        tail = client.app.state.logtail
        deadline = time.monotonic() + 10
        while not tail.appended("acme", "b") and time.monotonic() < deadline:
            time.sleep(0.05)
        b_other = {**b, "subject": "someone-else"}
        again = post(client, log_settings, [b], user="another-admin").json()
        other = post(client, log_settings, [b_other]).json()
    assert _statuses(again) == ["duplicate"], "another actor sending the same content is a duplicate"
    assert _statuses(other) == ["conflict"], "other content than the log's is a conflict"
    assert [r["id"] for r in log_records(log_settings)] == [created["id"], "b"]


def test_nan_and_infinity_are_refused_at_the_parser(client: TestClient, log_settings: Settings) -> None:
    for literal in ("NaN", "Infinity", "-Infinity"):
        event = json.dumps(cloud_event("learner.signed_in", {"learner_id": "l"}, tenant="acme"))
        body = event.replace('"l"}', f'"l", "x": {literal}}}')
        response = client.post("/v1/events", content=body, headers={"Content-Type": CONTENT_TYPE, **auth(log_settings)})
        assert response.status_code == 400, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert literal.lstrip("-") in response.json()["detail"]


def test_event_time_is_bounded_by_the_clock(client: TestClient, log_settings: Settings) -> None:
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    contract = log_settings.contract
    future = cloud_event("learner.signed_in", {"learner_id": "l"}, tenant="acme", time=now + timedelta(hours=1))
    ancient = cloud_event(
        "learner.signed_in", {"learner_id": "l"}, tenant="acme", time=now - contract.horizon - timedelta(days=1)
    )
    fine = cloud_event("learner.signed_in", {"learner_id": "l"}, tenant="acme", time=now - timedelta(days=3))
    body = post(client, log_settings, [future, ancient, fine]).json()
    assert _statuses(body) == ["rejected", "rejected", "accepted"]
    assert [(p["field"], p["rule"]) for r in body["results"][:2] for p in r["problems"]] == [
        ("time", "time_in_future"),
        ("time", "time_too_old"),
    ]


def test_a_bug_is_answered_as_problem_json_with_a_request_id(log_settings: Settings) -> None:
    app = create_app(log_settings)

    @app.get("/boom")  # a route of this test's own: the app's handler is what is under test
    def boom() -> None:
        raise RuntimeError("internal detail that must not leak")

    with TestClient(app, raise_server_exceptions=False) as test_client:
        response = test_client.get("/boom")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["request_id"] == response.headers["X-Request-ID"]
    assert problem["request_id"] in problem["detail"] and "internal detail" not in response.text
