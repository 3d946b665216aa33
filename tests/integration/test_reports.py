"""The reports endpoint against real PostgreSQL read models: scope isolation, JSON = CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from api.app import create_app
from api.auth import mint_token
from schemas.examples import cloud_event
from skillmind.settings import Settings
from skillmind.workload import Shape, history
from tests.integration.readmodels import seed

D = date(2026, 11, 27)
ROLES = ("company_admin", "program_owner", "manager", "mentor", "learner")


@pytest.fixture
def client(report_db: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(report_db)) as test_client:
        yield test_client


def get(client: TestClient, settings: Settings, tenant: str, user: str, roles: list[str], **params: Any) -> Any:
    token = mint_token(settings.api, tenant=tenant, user=user, roles=roles)
    return client.get("/v1/reports/engagement", params=params, headers={"Authorization": f"Bearer {token}"})


@st.composite
def directories(draw: st.DrawFn) -> dict[str, Any]:
    """Two tenants with random programs, cohorts, learners, links and callers."""
    tenants = {}
    for tenant in ("ta", "tb"):
        people = [f"{tenant}-u{i}" for i in range(draw(st.integers(3, 7)))]
        programs = {f"{tenant}-p{i}": draw(st.sampled_from(people)) for i in range(draw(st.integers(1, 3)))}
        cohorts = {f"{tenant}-c{i}": draw(st.sampled_from(sorted(programs))) for i in range(draw(st.integers(1, 3)))}
        learners = draw(st.lists(st.sampled_from(people), unique=True, min_size=1))
        enrolments = {lr: draw(st.sampled_from(sorted(cohorts))) for lr in learners}
        managers = {lr: draw(st.sampled_from(people)) for lr in learners if draw(st.booleans())}
        mentors = {(lr, m) for lr in learners for m in draw(st.lists(st.sampled_from(people), max_size=2))}
        callers = {p: draw(st.sets(st.sampled_from(ROLES), min_size=1)) for p in people}
        # The directory's say on some of those roles: grants and revocations in log order.
        role_changes = {
            (p, role): draw(st.lists(st.booleans(), min_size=1, max_size=2))
            for p, roles in callers.items()
            for role in sorted(roles)
            if draw(st.booleans())
        }
        tenants[tenant] = dict(
            people=people,
            programs=programs,
            cohorts=cohorts,
            enrolments=enrolments,
            managers=managers,
            mentors=mentors,
            callers=callers,
            role_changes=role_changes,
        )
    return tenants


def events_of(tenants: dict[str, Any]) -> list[dict[str, Any]]:
    events = []
    at = datetime(2026, 11, 20, tzinfo=UTC)
    for t, d in tenants.items():

        def ev(kind: str, data: dict[str, Any], tenant: str = t) -> None:
            events.append(cloud_event(kind, data, tenant=tenant, time=at))

        ev("tenant.created", {"tenant_id": t, "name": t})
        for p, owner in d["programs"].items():
            ev("program.created", {"program_id": p, "name": p, "owner_id": owner})
        for c, p in d["cohorts"].items():
            ev("cohort.created", {"cohort_id": c, "program_id": p, "name": c})
        for learner, c in d["enrolments"].items():
            ev("learner.enrolled", {"learner_id": learner, "cohort_id": c})
        for learner, m in d["managers"].items():
            ev("manager.assigned", {"learner_id": learner, "manager_id": m})
        for learner, m in sorted(d["mentors"]):
            ev("mentor.assigned", {"learner_id": learner, "mentor_id": m})
        for (user, role), changes in sorted(d["role_changes"].items()):
            for granted in changes:
                ev("role.granted" if granted else "role.revoked", {"user_id": user, "role": role})
        ev("engagement.recompute_requested", {"day": D.isoformat()})
    return events


def honoured(d: dict[str, Any], user: str, roles: set[str]) -> set[str]:
    """The token's roles minus those the directory's latest word revoked."""
    return {r for r in roles if d["role_changes"].get((user, r), [True])[-1]}


def expected_scope(tenants: dict[str, Any], tenant: str, user: str, roles: set[str]) -> set[tuple[str, str]]:
    d = tenants[tenant]
    roles = honoured(d, user, roles)
    rows = {lr: d["cohorts"][c] for lr, c in d["enrolments"].items()}  # learner -> program
    seen = set()
    for learner, program in rows.items():
        if (
            "company_admin" in roles
            or ("program_owner" in roles and d["programs"][program] == user)
            or ("manager" in roles and d["managers"].get(learner) == user)
            or ("mentor" in roles and (learner, user) in d["mentors"])
            or ("learner" in roles and learner == user)
        ):
            seen.add((tenant, learner))
    return seen


@hsettings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(tenants=directories())
def test_every_caller_sees_exactly_their_scope(
    client: TestClient,
    report_db: Settings,
    tenants: dict[str, Any],
) -> None:
    with psycopg.connect(report_db.postgres.conninfo(), autocommit=True) as conn:
        conn.execute("drop schema if exists readmodel cascade")
    seed(report_db.postgres.conninfo(), events_of(tenants))
    everyone = set()
    for tenant, d in tenants.items():
        for user, roles in d["callers"].items():
            response = get(client, report_db, tenant, user, sorted(roles), day=D)
            if not honoured(d, user, roles) & {"company_admin", "program_owner", "manager", "mentor", "learner"}:
                assert response.status_code == 403, "every report role revoked: no reports"
                continue
            got = {(r["tenant_id"], r["learner_id"]) for r in response.json()["rows"]}
            assert got == expected_scope(tenants, tenant, user, roles), (tenant, user, roles)
        everyone |= {(tenant, learner) for learner in d["enrolments"]}
        # A token of the other tenant with every role sees nothing of this one.
        other = "tb" if tenant == "ta" else "ta"
        body = get(client, report_db, other, d["people"][0], list(ROLES), day=D).json()
        assert not {r["tenant_id"] for r in body["rows"]} - {other}
    platform = get(client, report_db, "ta", "root", ["platform_admin"], day=D).json()
    assert {(r["tenant_id"], r["learner_id"]) for r in platform["rows"]} == everyone


def test_auditor_and_ingest_roles_get_no_reports(client: TestClient, report_db: Settings) -> None:
    for roles in (["auditor"], ["ingest"]):
        response = get(client, report_db, "ta", "u", roles)
        assert response.status_code == 403
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["rule"] == "role_required"  # every 403 names the rule it applied


@pytest.mark.parametrize("group_by", ["learner", "cohort", "program", "tenant"])
def test_json_and_csv_hold_the_same_rows(client: TestClient, report_db: Settings, group_by: str) -> None:
    seed(report_db.postgres.conninfo(), history(Shape(tenant="acme", learners=30, days=15, end=D)))
    as_json = get(client, report_db, "acme", "admin", ["company_admin"], group_by=group_by).json()
    response = get(client, report_db, "acme", "admin", ["company_admin"], group_by=group_by, format="csv")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(response.text)))
    assert len(table) == len(as_json["rows"]) > 0
    for from_csv, from_json in zip(table, as_json["rows"], strict=True):
        assert from_csv.keys() == from_json.keys()
        for key, value in from_json.items():
            text = "" if value is None else str(value)
            if isinstance(value, bool):
                text = "t" if value else "f"
            assert from_csv[key] in (text, str(value)) or float(from_csv[key]) == float(value), key


def test_tiles_series_and_week_over_week(client: TestClient, report_db: Settings) -> None:
    seed(report_db.postgres.conninfo(), history(Shape(tenant="acme", learners=20, days=56, end=D)))
    body = get(client, report_db, "acme", "admin", ["company_admin"], group_by="tenant").json()
    assert body["day"] == D.isoformat()
    assert [p["day"] for p in body["series"]] == [
        str(date.fromordinal(D.toordinal() - 7 * n)) for n in range(7, -1, -1)
    ]
    assert all(p["target"] == 75 for p in body["series"])
    (row,) = body["rows"]
    assert body["tiles"]["engagement"]["value"] == row["engagement"]
    assert body["tiles"]["at_risk"]["value"] == row["at_risk"]
    last_week = get(
        client,
        report_db,
        "acme",
        "admin",
        ["company_admin"],
        group_by="tenant",
        day=str(date.fromordinal(D.toordinal() - 7)),
    ).json()["rows"][0]
    assert body["tiles"]["engagement"]["change"] == row["engagement"] - last_week["engagement"]
    assert body["tiles"]["engagement"]["relative_change"] == pytest.approx(
        (row["engagement"] - last_week["engagement"]) / last_week["engagement"], abs=1e-4
    )


def test_median_of_an_even_count_is_the_mean_of_the_two_middles(client: TestClient, report_db: Settings) -> None:
    seed(report_db.postgres.conninfo(), history(Shape(tenant="acme", learners=4, days=3, end=D)))
    body = get(client, report_db, "acme", "admin", ["company_admin"], group_by="learner").json()
    scores = sorted(r["score"] for r in body["rows"])
    tenant = get(client, report_db, "acme", "admin", ["company_admin"], group_by="tenant").json()
    assert tenant["rows"][0]["engagement"] == (scores[1] + scores[2]) / 2


def test_csv_is_refused_when_the_capability_is_off(client: TestClient, report_db: Settings) -> None:
    seed(
        report_db.postgres.conninfo(),
        [
            *history(Shape(tenant="acme", learners=3, days=2, end=D)),
            cloud_event("tenant.capabilities_changed", {"flags": {"exports.csv": False}}, tenant="acme"),
        ],
    )
    refused = get(client, report_db, "acme", "admin", ["company_admin"], format="csv")
    assert refused.status_code == 403 and refused.json()["capability"] == "exports.csv"
    assert refused.json()["rule"] == "capability_disabled"
    assert get(client, report_db, "acme", "admin", ["company_admin"]).status_code == 200


def overview(client: TestClient, settings: Settings, tenant: str, user: str, roles: list[str]) -> Any:
    token = mint_token(settings.api, tenant=tenant, user=user, roles=roles)
    return client.get("/v1/overview", headers={"Authorization": f"Bearer {token}"})


def test_overview_is_one_tenants_dated_by_the_log_and_needs_a_report_role(
    client: TestClient, report_db: Settings
) -> None:
    seed(
        report_db.postgres.conninfo(),
        [
            *history(Shape(tenant="acme", learners=6, days=3, end=D, programs=2)),
            *history(Shape(tenant="beta", learners=6, days=3, end=date(2026, 11, 20), programs=3)),
        ],
    )
    for roles in (["auditor"], ["ingest"]):
        refused = overview(client, report_db, "acme", "u", roles)
        assert refused.status_code == 403 and refused.headers["content-type"] == "application/problem+json"
    admin = overview(client, report_db, "acme", "admin", ["company_admin"]).json()
    platform = overview(client, report_db, "acme", "root", ["platform_admin"]).json()
    assert platform == admin, "a platform_admin's overview is its token's tenant, figures not mixed"
    assert admin["tenant_id"] == "acme" and admin["programs_tracked"] == 2
    assert admin["day"] == D.isoformat(), "dated by the latest computed day, not the database's clock"
    beta = overview(client, report_db, "beta", "root", ["platform_admin"]).json()
    assert beta["programs_tracked"] == 3 and beta["day"] == "2026-11-20"


def test_a_capability_gates_the_rows_of_its_own_tenant_whoever_asks(client: TestClient, report_db: Settings) -> None:
    seed(
        report_db.postgres.conninfo(),
        [
            *history(Shape(tenant="acme", learners=3, days=2, end=D)),
            *history(Shape(tenant="beta", learners=4, days=2, end=D)),
            cloud_event("tenant.capabilities_changed", {"flags": {"exports.csv": False}}, tenant="beta"),
        ],
    )
    for token_tenant in ("acme", "beta"):
        as_json = get(client, report_db, token_tenant, "root", ["platform_admin"], day=D).json()
        assert {r["tenant_id"] for r in as_json["rows"]} == {"acme", "beta"}, "JSON is not an export"
        response = get(client, report_db, token_tenant, "root", ["platform_admin"], day=D, format="csv")
        assert response.status_code == 200
        assert {r["tenant_id"] for r in csv.DictReader(io.StringIO(response.text))} == {"acme"}
        assert response.headers["SkillMind-Excluded-Tenants"] == "beta"
    beta_admin = get(client, report_db, "beta", "admin", ["company_admin"], format="csv")
    assert beta_admin.status_code == 403 and beta_admin.json()["capability"] == "exports.csv"


def test_csv_cells_are_safe_in_a_spreadsheet(client: TestClient, report_db: Settings) -> None:
    events = list(history(Shape(tenant="acme", learners=3, days=2, end=D)))
    learners = sorted({e["data"]["learner_id"] for e in events if e["type"] == "learner.enrolled"})
    # No control characters here: the contract refuses them in names; the writer's handling
    # of CR/LF/TAB is covered by tests/unit/test_csv_writer.py.
    names = ["=1+1", "@cmd|calc", '-2, "quoted"']
    renamed = [
        cloud_event(
            "user.registered",
            {"user_id": learner, "display_name": name, "email": f"{learner}@acme.example", "roles": ["learner"]},
            tenant="acme",
        )
        for learner, name in zip(learners, names, strict=True)
    ]
    seed(report_db.postgres.conninfo(), [*events, *renamed])
    response = get(client, report_db, "acme", "admin", ["company_admin"], format="csv")
    table = list(csv.DictReader(io.StringIO(response.text, newline="")))
    assert len(table) == 3, "no cell split a row"
    assert {r["learner_id"]: r["display_name"] for r in table} == {
        learner: "'" + name for learner, name in zip(learners, names, strict=True)
    }
    assert all(float(r["score"]) >= 0 for r in table), "numbers are untouched"


def test_unknown_and_foreign_programs_and_cohorts_answer_the_same_404(client: TestClient, report_db: Settings) -> None:
    acme = list(history(Shape(tenant="acme", learners=3, days=2, end=D)))
    beta = list(history(Shape(tenant="beta", learners=3, days=2, end=D)))
    seed(report_db.postgres.conninfo(), [*acme, *beta])
    program = next(e["data"]["program_id"] for e in beta if e["type"] == "program.created")
    cohort = next(e["data"]["cohort_id"] for e in beta if e["type"] == "cohort.created")
    own = next(e["data"]["program_id"] for e in acme if e["type"] == "program.created")
    answers = []
    for params in ({"program_id": program}, {"program_id": "nope"}, {"cohort_id": cohort}, {"cohort_id": "nope"}):
        response = get(client, report_db, "acme", "admin", ["company_admin"], **params)
        assert response.status_code == 404 and response.headers["content-type"] == "application/problem+json"
        answers.append(response.json()["title"])
    assert len(set(answers)) == 1
    assert get(client, report_db, "acme", "admin", ["company_admin"], program_id=own).status_code == 200


def test_stored_scope_figures_equal_the_live_counts(client: TestClient, report_db: Settings) -> None:
    """What the tick stores per tenant/program/cohort and day is what counting live gives."""
    from psycopg import sql

    from projections.figures import COUNT_NAMES, FIGURE_COUNTS

    seed(report_db.postgres.conninfo(), history(Shape(tenant="acme", learners=30, days=15, end=D)))
    live = sql.SQL(
        "select s.day, g.scope, g.scope_id, {counts} from readmodel.daily_scores s cross join lateral "
        "(values ('tenant', ''), ('program', coalesce(s.program_id, '')), ('cohort', coalesce(s.cohort_id, ''))) "
        "g(scope, scope_id) where s.tenant_id = 'acme' group by 1, 2, 3"
    ).format(counts=FIGURE_COUNTS)
    stored = f"select day, scope, scope_id, {', '.join(COUNT_NAMES)} from readmodel.scope_figures"
    with psycopg.connect(report_db.postgres.conninfo()) as conn:
        expected = set(conn.execute(live).fetchall())
        assert expected and set(conn.execute(stored + " where learners > 0").fetchall()) == expected
    program = sorted({r[2] for r in expected if r[1] == "program"})[0]
    body = get(client, report_db, "acme", "admin", ["company_admin"], group_by="cohort", program_id=program).json()
    live_owner = get(client, report_db, "acme", "admin", ["company_admin", "platform_admin"], program_id=program)
    assert body["tiles"] == live_owner.json()["tiles"], "the lookup and the live count agree"
