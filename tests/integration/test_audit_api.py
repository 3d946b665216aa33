"""Audit search and the hold rule against real PostgreSQL read models (seeded by the real writer)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from api.app import create_app
from api.auth import mint_token
from projections.holds import Hold, holds_covering, refs_of
from schemas.examples import cloud_event
from schemas.types import ROLES, parse_utc
from skillmind.settings import Settings
from tests.integration.readmodels import seed

T0 = datetime(2026, 10, 1, tzinfo=UTC)


@pytest.fixture
def client(report_db: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(report_db)) as test_client:
        yield test_client


def headers(settings: Settings, tenant: str, user: str, roles: list[str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(settings.api, tenant=tenant, user=user, roles=roles)}"}


def reseed(settings: Settings, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    with psycopg.connect(settings.postgres.conninfo(), autocommit=True) as conn:
        conn.execute("drop schema if exists readmodel cascade")
    return seed(settings.postgres.conninfo(), events)


def all_pages(client: TestClient, hdrs: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    items, cursor = [], None
    while True:
        response = client.get("/v1/audit", headers=hdrs, params={**params, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        body = response.json()
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items


LEARNERS = ["l1", "l2", "l3"]
PROGRAMS = ["p1", "p2"]
COHORTS = ["c1", "c2"]


@st.composite
def activity(draw: st.DrawFn, tenant: str) -> list[dict[str, Any]]:
    """A tenant's log: directory, learner events and holds placed and released, at random times."""
    events = [cloud_event("tenant.created", {"tenant_id": tenant, "name": tenant}, tenant=tenant, time=T0)]
    holds: list[str] = []
    for n in range(draw(st.integers(1, 14))):
        at = T0 + timedelta(hours=draw(st.integers(0, 96)))
        actor = draw(st.sampled_from(["a1", "a2"]))
        kind = draw(st.sampled_from(["signin", "enrol", "phase", "register", "hold", "release"]))
        learner, program, cohort = (draw(st.sampled_from(x)) for x in (LEARNERS, PROGRAMS, COHORTS))
        if kind == "release" and not holds:
            kind = "hold"
        if kind == "signin":
            event = cloud_event("learner.signed_in", {"learner_id": learner}, tenant=tenant, time=at)
        elif kind == "enrol":
            event = cloud_event(
                "learner.enrolled", {"learner_id": learner, "cohort_id": cohort}, tenant=tenant, time=at
            )
        elif kind == "phase":
            data = {"learner_id": learner, "program_id": program, "phase": 1, "final": False}
            event = cloud_event("phase.advanced", data, tenant=tenant, time=at)
        elif kind == "register":
            data = {"user_id": learner, "display_name": "X", "email": "x@y.z", "roles": ["learner"]}
            event = cloud_event("user.registered", data, tenant=tenant, time=at, subject=f"user/{learner}")
        elif kind == "hold":
            scope = draw(st.sampled_from(["tenant", "learner", "program", "cohort", "event_type"]))
            scope_id = {"tenant": None, "learner": learner, "program": program, "cohort": cohort}.get(
                scope, draw(st.sampled_from(["learner.signed_in", "learner.enrolled"]))
            )
            hold_id = f"{tenant}-h{n}"
            holds.append(hold_id)
            data = {"hold_id": hold_id, "scope": scope, "case_reference": "C", "reason": "r"}
            data |= {"scope_id": scope_id} if scope_id else {}
            if draw(st.booleans()):
                data["from_time"] = (T0 + timedelta(hours=draw(st.integers(0, 48)))).isoformat().replace("+00:00", "Z")
            if draw(st.booleans()):
                data["to_time"] = (T0 + timedelta(hours=draw(st.integers(48, 96)))).isoformat().replace("+00:00", "Z")
            event = cloud_event("legal_hold.placed", data, tenant=tenant, time=at)
        else:
            data = {"hold_id": draw(st.sampled_from(holds)), "reason": "done"}
            event = cloud_event("legal_hold.released", data, tenant=tenant, time=at)
        event["actor"] = actor
        events.append(event)
    return events


def expected_holds(records: list[dict[str, Any]], tenant: str) -> dict[int, list[str]]:
    """sequence -> ids of the active holds covering it, by the pure rule (projections.holds)."""
    mine = [r for r in records if r["tenantid"] == tenant]
    placed = {r["data"]["hold_id"]: r for r in mine if r["type"] == "legal_hold.placed"}
    placed = {h: r for h, r in placed.items() if r is next(x for x in mine if x.get("data", {}).get("hold_id") == h)}
    released = {
        r["data"]["hold_id"]
        for r in mine
        if r["type"] == "legal_hold.released"
        and r["data"]["hold_id"] in placed
        and r["sequence"] > placed[r["data"]["hold_id"]]["sequence"]
    }
    active = [
        Hold(
            h,
            tenant,
            r["data"]["scope"],
            r["data"].get("scope_id"),
            *(datetime.fromisoformat(r["data"][k]) if r["data"].get(k) else None for k in ("from_time", "to_time")),
        )
        for h, r in placed.items()
        if h not in released
    ]
    return {r["sequence"]: holds_covering(active, refs_of(r)) for r in mine}


callers = st.lists(
    st.tuples(st.sampled_from(["ta", "tb"]), st.sets(st.sampled_from(sorted(ROLES)), max_size=3)), max_size=6
)


@hsettings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
@given(a=activity("ta"), b=activity("tb"), who=callers)
def test_only_auditors_and_platform_admins_read_the_audit_trail_of_their_tenant(
    client: TestClient, report_db: Settings, a: list[dict[str, Any]], b: list[dict[str, Any]], who: list[Any]
) -> None:
    records = reseed(report_db, [e for pair in zip(a, b, strict=False) for e in pair] + a[len(b) :] + b[len(a) :])
    held = {t: expected_holds(records, t) for t in ("ta", "tb")}
    for tenant, roles in [("ta", {"auditor"}), ("tb", {"platform_admin"}), *who]:
        hdrs = headers(report_db, tenant, "u", sorted(roles))
        response = client.get("/v1/audit", headers=hdrs)
        if not roles & {"auditor", "platform_admin"}:
            assert response.status_code == 403, (roles, response.text)
            continue
        items = all_pages(client, hdrs, limit=3)
        assert [i["sequence"] for i in items] == sorted(held[tenant], reverse=True)
        assert {i["tenant_id"] for i in items} == {tenant}
        assert {i["sequence"]: i["hold_ids"] for i in items} == held[tenant], "SQL and Python hold rules agree"
        assert all(i["on_hold"] == bool(i["hold_ids"]) for i in items)
        other = "tb" if tenant == "ta" else "ta"
        across = client.get("/v1/audit", headers=hdrs, params={"tenant_id": other})
        if "platform_admin" in roles:
            assert {i["tenant_id"] for i in across.json()["items"]} <= {other}
        else:
            assert across.status_code == 404


def test_filters_select_what_they_say_and_pages_cover_everything_once(client: TestClient, report_db: Settings) -> None:
    events = [
        cloud_event("tenant.created", {"tenant_id": "acme", "name": "Acme"}, tenant="acme", time=T0, actor="root")
    ]
    for n in range(30):
        at = T0 + timedelta(hours=n)
        kind = (
            ("learner.signed_in", {"learner_id": f"l{n % 4}"})
            if n % 3
            else ("learner.enrolled", {"learner_id": f"l{n % 4}", "cohort_id": "c1"})
        )
        events.append(cloud_event(*kind, tenant="acme", time=at, actor=f"a{n % 2}", subject=f"s{n % 5}"))
    events.append(
        cloud_event(
            "legal_hold.placed",
            {"hold_id": "h1", "scope": "learner", "scope_id": "l1", "case_reference": "C", "reason": "r"},
            tenant="acme",
            time=T0,
            actor="auditor-1",
        )
    )
    records = reseed(report_db, events)
    hdrs = headers(report_db, "acme", "auditor-1", ["auditor"])

    def select(**params: Any) -> list[int]:
        return [i["sequence"] for i in all_pages(client, hdrs, order="asc", limit=7, **params)]

    everything = select()
    assert everything == list(range(1, 33))
    assert [i["sequence"] for i in all_pages(client, hdrs, limit=5)] == everything[::-1]
    by = {r["sequence"]: r for r in records}
    assert select(type=["learner.enrolled", "tenant.created"]) == [
        s for s in everything if by[s]["type"] in ("learner.enrolled", "tenant.created")
    ]
    assert select(actor="a1") == [s for s in everything if by[s].get("actor") == "a1"]
    assert select(subject="s3") == [s for s in everything if by[s].get("subject") == "s3"]
    assert select(from_sequence=5, to_sequence=9) == [5, 6, 7, 8, 9]
    window = {"from_time": "2026-10-01T05:00:00Z", "to_time": "2026-10-01T08:00:00Z"}
    low, high = T0 + timedelta(hours=5), T0 + timedelta(hours=8)
    assert select(**window) == [s for s in everything if low <= parse_utc(by[s]["time"]) <= high]
    held = select(on_hold=True)
    assert held and held == [s for s in everything if by[s]["data"].get("learner_id") == "l1"]
    assert select(on_hold=False) == [s for s in everything if s not in held]
    row = all_pages(client, hdrs, from_sequence=2, to_sequence=2)[0]
    assert (
        row["hash"] == by[2]["hash"]
        and row["id"] == by[2]["id"]
        and set(row)
        == {
            "tenant_id",
            "sequence",
            "id",
            "type",
            "time",
            "appendedat",
            "actor",
            "subject",
            "hash",
            "on_hold",
            "hold_ids",
        }
    )


def test_the_public_key_is_served_and_bad_queries_are_problems(client: TestClient, report_db: Settings) -> None:
    key = client.get("/v1/audit/public-key").json()
    assert key["algorithm"] == "Ed25519" and key["public_key_pem"].startswith("-----BEGIN PUBLIC KEY-----")
    hdrs = headers(report_db, "acme", "auditor-1", ["auditor"])
    bad = ({"cursor": "x"}, {"limit": 0}, {"from_time": "1710113400"}, {"type": "NOT A TYPE"}, {"subject": "a\x00b"})
    for params in bad:
        response = client.get("/v1/audit", headers=hdrs, params=params)
        assert response.status_code == 422 and response.headers["content-type"] == "application/problem+json"


def test_an_export_request_resolves_to_a_contiguous_range_of_the_index(report_db: Settings) -> None:
    from api.audit import AuditExportRequest, export_range
    from api.audit_export import ExportRange

    events = [cloud_event("tenant.created", {"tenant_id": "acme", "name": "Acme"}, tenant="acme", time=T0)]
    events += [cloud_event("learner.signed_in", {"learner_id": f"l{n}"}, tenant="acme", time=T0) for n in range(9)]
    records = reseed(report_db, events)
    middle = records[4]["appendedat"]
    with psycopg.connect(report_db.postgres.conninfo(), autocommit=True) as conn:

        def resolve(**request: Any) -> ExportRange | None:
            return export_range(conn, "acme", AuditExportRequest(**request))

        assert resolve() == ExportRange(1, 10)
        assert resolve(from_sequence=3, to_sequence=99) == ExportRange(3, 10), "a bound beyond the head stops there"
        assert resolve(from_sequence=11) is None and resolve(from_sequence=5, to_sequence=5) == ExportRange(5, 5)
        by_time = resolve(from_time=middle, types=["learner.signed_in"])
        assert by_time is not None and by_time.first_sequence <= 5 and by_time.last_sequence == 10
        assert by_time.types == frozenset({"learner.signed_in"})
        assert export_range(conn, "nobody", AuditExportRequest()) is None


def test_holds_are_listed_for_their_tenant_only_and_released_only_by_their_placer_or_an_admin(
    client: TestClient, report_db: Settings
) -> None:
    reseed(
        report_db,
        [
            cloud_event("tenant.created", {"tenant_id": "acme", "name": "Acme"}, tenant="acme", time=T0),
            cloud_event(
                "legal_hold.placed",
                {"hold_id": "h1", "scope": "cohort", "scope_id": "c1", "case_reference": "C", "reason": "r"},
                tenant="acme",
                time=T0,
                actor="auditor-1",
            ),
        ],
    )
    auditor = headers(report_db, "acme", "auditor-1", ["auditor"])
    listed = client.get("/v1/legal-holds", headers=auditor).json()
    assert [(h["hold_id"], h["placed_by"], h["active"]) for h in listed] == [("h1", "auditor-1", True)]
    assert client.get("/v1/legal-holds", headers=auditor, params={"tenant_id": "beta"}).status_code == 404
    assert client.get("/v1/legal-holds", headers=headers(report_db, "acme", "m", ["manager"])).status_code == 403
    other_auditor = headers(report_db, "acme", "auditor-2", ["auditor"])
    assert client.delete("/v1/legal-holds/h1", headers=other_auditor, params={"reason": "x"}).status_code == 403
    assert client.delete("/v1/legal-holds/nope", headers=auditor, params={"reason": "x"}).status_code == 404
    beta_admin = headers(report_db, "beta", "b", ["company_admin"])
    assert client.delete("/v1/legal-holds/h1", headers=beta_admin, params={"reason": "x"}).status_code == 404
