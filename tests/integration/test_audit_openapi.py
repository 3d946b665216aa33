"""schemathesis on the auditor's operations (audit search, legal holds, public key) with the
whole pipeline running: no 5xx, every answer as documented; then the pipeline still folds.
Bounded: SKILLMIND_SCHEMATHESIS_EXAMPLES examples per operation (default 15)."""

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
from tests.integration.pipeline import assert_fresh_event_reaches_report, running_pipeline, seed_history

EXAMPLES = int(os.environ.get("SKILLMIND_SCHEMATHESIS_EXAMPLES", "15"))
AUDIT_PATHS = ("/v1/audit", "/v1/legal-holds")


@pytest.fixture
def api_settings(pipeline_settings: Settings) -> Iterator[Settings]:
    api = pipeline_settings.api.model_copy(update={"read_your_writes_timeout_s": 0.5})
    settings = pipeline_settings.model_copy(update={"api": api})
    with running_pipeline(settings):
        yield settings


@pytest.mark.parametrize("roles", [["auditor"], ["company_admin", "platform_admin"]])
def test_the_audit_operations_honour_their_openapi(api_settings: Settings, roles: list[str]) -> None:
    app = create_app(api_settings)
    with TestClient(app) as client:
        seed_history(client, api_settings, learners=4)
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        headers = {"Authorization": f"Bearer {mint_token(api_settings.api, tenant='acme', user='aud-1', roles=roles)}"}
        operations = [op for op in (r.ok() for r in schema.get_all_operations()) if op.path.startswith(AUDIT_PATHS)]
        assert len(operations) == 5, [op.path for op in operations]
        for operation in operations:

            @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy())
            def check(case: schemathesis.Case) -> None:
                case.call_and_validate(headers=headers)

            check()
        assert_fresh_event_reaches_report(client, api_settings, "acme", "acme-l0")
