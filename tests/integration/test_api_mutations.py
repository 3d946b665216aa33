"""Mutations through the log, read back through the projections: read-your-writes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import mint_token
from skillmind.settings import Settings
from tests.integration.pipeline import COMPONENTS, running_pipeline


@pytest.fixture
def pipeline(pipeline_settings: Settings) -> Iterator[Settings]:
    with running_pipeline(pipeline_settings):
        yield pipeline_settings


def auth(settings: Settings, tenant: str, user: str, *roles: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(settings.api, tenant=tenant, user=user, roles=list(roles))}"}


def test_a_write_is_visible_to_a_read_that_names_its_position(pipeline: Settings) -> None:
    root = auth(pipeline, "acme", "root", "platform_admin")
    admin = auth(pipeline, "acme", "ada", "company_admin")
    with TestClient(create_app(pipeline)) as client:

        def call(method: str, path: str, headers: dict[str, str], json: Any) -> dict[str, Any]:
            response = client.request(method, path, headers=headers, json=json)
            assert response.status_code == 202, response.text
            return response.json()

        created = call("POST", "/v1/tenants", root, {"tenant_id": "acme", "name": "Acme"})
        assert created["position"] == 1 and created["type"] == "tenant.created"
        call("POST", "/v1/programs", admin, {"program_id": "p1", "name": "P", "owner_id": "o1"})
        call("POST", "/v1/cohorts", admin, {"cohort_id": "c1", "program_id": "p1", "name": "C"})
        call(
            "POST",
            "/v1/users",
            admin,
            {"user_id": "l1", "display_name": "L", "email": "l1@acme.example", "roles": ["learner"]},
        )
        call("POST", "/v1/enrolments", admin, {"learner_id": "l1", "cohort_id": "c1"})
        call("PUT", "/v1/learners/l1/manager", admin, {"manager_id": "m1"})
        tick = client.post(
            "/v1/events",
            headers={**root, "Content-Type": "application/cloudevents+json"},
            json={
                "specversion": "1.0",
                "id": "tick-1",
                "source": "/t",
                "time": "2026-11-28T03:00:00Z",
                "type": "engagement.recompute_requested",
                "tenantid": "acme",
                "data": {"day": "2026-11-27"},
            },
        )
        assert tick.json()["accepted"] == 1
        # The API takes exactly what the log takes: no booleans or strings for integers.
        retention = {"learner_events_days": 730, "mutations_days": 3650, "exports_days": 30, "cadence": "daily"}
        for path, body, field in (
            ("/v1/tenants/acme/settings", {"target": True}, "target"),
            ("/v1/tenants/acme/settings", {"target": "80"}, "target"),
            ("/v1/tenants/acme/retention", {**retention, "hour": False}, "hour"),
            (
                "/v1/tenants/acme/retention",
                {**retention, "hour": 3, "learner_events_days": "730"},
                "learner_events_days",
            ),
        ):
            loose = client.put(path, headers=admin, json=body)
            assert loose.status_code == 422 and field in loose.text, (body, loose.text)
        off = call("PUT", "/v1/tenants/acme/capabilities", admin, {"exports.csv": False})
        assert off["position"] == 8

        manager = auth(pipeline, "acme", "m1", "manager")
        report = client.get("/v1/reports/engagement", headers=manager, params={"min_position": off["position"]})
        assert report.status_code == 200, report.text
        assert [r["learner_id"] for r in report.json()["rows"]] == ["l1"]
        csv = client.get(
            "/v1/reports/engagement", headers=admin, params={"min_position": off["position"], "format": "csv"}
        )
        assert csv.status_code == 403 and csv.json()["capability"] == "exports.csv"

        overview = client.get("/v1/overview", headers=admin).json()
        assert overview["programs_tracked"] == 1 and overview["audit_events"] == 8  # every record, the tick too

        # Another tenant's resources answer 404, never 403.
        beta_admin = auth(pipeline, "beta", "bob", "company_admin")
        other = client.put("/v1/tenants/acme/settings", headers=beta_admin, json={"target": 90})
        assert other.status_code == 404
        # A refused write says why: a mutation for a tenant that does not exist.
        ghost = client.post(
            "/v1/programs",
            headers=root,
            params={"tenant_id": "ghost"},
            json={"program_id": "p", "name": "P", "owner_id": "o"},
        )
        assert ghost.status_code == 404 and "does not exist" in ghost.json()["detail"]
        again = client.post("/v1/tenants", headers=root, json={"tenant_id": "acme", "name": "Acme"})
        assert again.status_code == 409 and again.json()["rule"] == "tenant_exists"
        # Directory ids are per tenant: a cohort or program the tenant lacks (another
        # tenant's included) is refused naming the field, before anything reaches the log.
        call("POST", "/v1/tenants", root, {"tenant_id": "beta", "name": "Beta"})
        call("POST", "/v1/programs", beta_admin, {"program_id": "bp", "name": "B", "owner_id": "o"})
        call("POST", "/v1/cohorts", beta_admin, {"cohort_id": "bc", "program_id": "bp", "name": "B"})
        for path, body, field in (
            ("/v1/enrolments", {"learner_id": "l1", "cohort_id": "bc"}, "data.cohort_id"),
            ("/v1/enrolments", {"learner_id": "l1", "cohort_id": "nope"}, "data.cohort_id"),
            ("/v1/cohorts", {"cohort_id": "c2", "program_id": "bp", "name": "C"}, "data.program_id"),
        ):
            unknown = client.post(path, headers=admin, json=body)
            assert unknown.status_code == 422, unknown.text
            assert (unknown.json()["field"], unknown.json()["rule"]) == (field, "unknown_reference")
        assert (
            client.post("/v1/enrolments", headers=beta_admin, json={"learner_id": "x", "cohort_id": "bc"}).status_code
            == 202
        )
        ready = client.get("/readyz").json()
        # Lag is in offsets: the log's transaction markers count, at most one per partition here.
        assert ready["ready"] is True and 0 <= ready["lag"]["log"] <= pipeline.kafka.partitions
        assert ready["failing"] == [] and set(ready["components"]) == set(COMPONENTS)


def test_the_directory_governs_roles_from_the_revocations_position_on(pipeline: Settings) -> None:
    root = auth(pipeline, "acme", "root", "platform_admin")
    ada = auth(pipeline, "acme", "ada", "company_admin")
    mia = auth(pipeline, "acme", "mia", "manager")
    with TestClient(create_app(pipeline)) as client:
        assert client.post("/v1/tenants", headers=root, json={"tenant_id": "acme", "name": "Acme"}).status_code == 202
        # Nobody grants above their own rank, and platform_admin is no tenant's to grant.
        escalate = client.put("/v1/users/ada/roles/platform_admin", headers=ada)
        assert escalate.status_code == 403 and "identity provider" in escalate.json()["detail"]
        assert escalate.json()["rule"] == "role_not_grantable" and escalate.json()["field"] == "data.role"
        assert client.put("/v1/users/bob/roles/platform_admin", headers=root).status_code == 403
        register = {"user_id": "eve", "display_name": "Eve", "email": "eve@acme.example", "roles": ["platform_admin"]}
        assert client.post("/v1/users", headers=ada, json=register).status_code == 403

        assert client.get("/v1/reports/engagement", headers=mia).status_code == 200
        revoked = client.delete("/v1/users/mia/roles/manager", headers=ada)
        assert revoked.status_code == 202, revoked.text
        seen = {"min_position": revoked.json()["position"]}
        assert client.get("/v1/reports/engagement", headers=mia, params=seen).status_code == 403

        # A company_admin the directory revoked can no longer write.
        gone = client.delete("/v1/users/ada/roles/company_admin", headers=root)
        assert gone.status_code == 202
        client.get("/v1/reports/engagement", headers=root, params={"min_position": gone.json()["position"]})
        refused = client.post("/v1/programs", headers=ada, json={"program_id": "p", "name": "P", "owner_id": "o"})
        assert refused.status_code == 403 and refused.json()["rule"] == "role_required"
        back = client.put("/v1/users/ada/roles/company_admin", headers=root)
        client.get("/v1/reports/engagement", headers=root, params={"min_position": back.json()["position"]})
        again = client.post("/v1/programs", headers=ada, json={"program_id": "p", "name": "P", "owner_id": "o"})
        assert again.status_code == 202, "a grant after the revocation restores the role"
