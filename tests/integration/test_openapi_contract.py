"""schemathesis against the app's own OpenAPI: no 5xx, and every answer matches the
documented status codes, content types and schemas. Bounded: SKILLMIND_SCHEMATHESIS_EXAMPLES
examples per operation (default 15)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

from api.app import create_app
from api.auth import mint_token
from skillmind.settings import Settings
from skillmind.workload import Shape, history
from tests.integration.logtools import running_sequencer
from tests.integration.readmodels import seed

EXAMPLES = int(os.environ.get("SKILLMIND_SCHEMATHESIS_EXAMPLES", "15"))


@pytest.fixture
def api_settings(log_settings: Settings, report_db: Settings) -> Iterator[Settings]:
    api = log_settings.api.model_copy(update={"read_your_writes_timeout_s": 0.5})
    settings = log_settings.model_copy(update={"postgres": report_db.postgres, "api": api})
    seed(settings.postgres.conninfo(), history(Shape(tenant="acme", learners=10, days=10)))
    with running_sequencer(settings):
        yield settings


@pytest.fixture
def api_schema(api_settings: Settings) -> Iterator[schemathesis.BaseSchema]:
    app = create_app(api_settings)
    with TestClient(app):  # runs the lifespan: pool, inbox writer, log tail
        yield schemathesis.openapi.from_asgi("/openapi.json", app)


def test_api_honours_its_openapi(api_schema: schemathesis.BaseSchema, api_settings: Settings) -> None:
    token = mint_token(
        api_settings.api, tenant="acme", user="admin-1", roles=["company_admin", "platform_admin", "manager"]
    )
    headers = {"Authorization": f"Bearer {token}"}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 15

    for operation in operations:
        # schemathesis's pytest plugin does not run on pytest 9 yet, so each operation's
        # cases are drawn by hypothesis here, one bounded run per operation.
        @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=headers)

        check()
