"""A seeded pipeline and a real `skillmind serve` for the browser tests of the product page.

One small tenant with eight weeks of history (so the chart has eight points), folded by
the whole running pipeline (so a capability switched through the API takes effect),
served by a real server process that the browser talks to.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from api.auth import mint_token
from bench.common import api_server
from events.topics import bootstrap_topics, delete_prefixed_topics
from projections.database import create_database, drop_database
from skillmind.settings import Settings
from skillmind.workload import Shape, history
from tests.integration.pipeline import api_client, bearer, post_events, running_pipeline, wait_until

TENANT = "acme"
# The six report roles and a user of the seeded directory holding each (skillmind.workload).
CALLERS = {
    "platform_admin": "root",
    "company_admin": "admin-1",
    "program_owner": f"{TENANT}-owner-0",
    "manager": f"{TENANT}-m0",
    "mentor": f"{TENANT}-mentor0",
    "learner": f"{TENANT}-l0",
}


@dataclass(frozen=True)
class PageEnv:
    settings: Settings
    base_url: str
    client: TestClient
    day: str

    def token(self, role: str, user: str | None = None) -> str:
        return mint_token(self.settings.api, tenant=TENANT, user=user or CALLERS[role], roles=[role])

    def api(self, role: str, path: str, **params: Any) -> Any:
        response = self.client.get(path, params=params, headers=bearer(self.settings, TENANT, CALLERS[role], role))
        assert response.status_code == 200, response.text
        return response.json()


def seed_weeks(client: TestClient, settings: Settings, end: Any) -> None:
    shape = Shape(tenant=TENANT, programs=2, cohorts_per_program=2, learners=16, days=56, end=end)
    events = list(history(shape))
    for start in range(0, len(events), 500):
        assert post_events(client, settings, TENANT, events[start : start + 500])["rejected"] == 0


@contextmanager
def private_buckets(base: Settings, suffix: str) -> Iterator[Any]:
    """Buckets of this environment's own: the pipeline's reconciler deletes objects it has
    no record of, so it must never see a shared bucket. Emptied afterwards."""
    from minio.error import S3Error

    from jobs.objectstore import ensure_buckets, make_client

    s3 = base.s3.model_copy(update={"exports_bucket": f"t-{suffix}-exports", "archive_bucket": f"t-{suffix}-archive"})
    client = make_client(s3)
    ensure_buckets(client, s3)
    try:
        yield s3
    finally:
        for bucket in (s3.exports_bucket, s3.archive_bucket):
            for obj in client.list_objects(bucket, recursive=True):
                client.remove_object(bucket, obj.object_name)
            # A versioned (object-lock) bucket keeps delete markers: it may stay behind, empty.
            with contextlib.suppress(S3Error):
                client.remove_bucket(bucket)


@contextmanager
def page_env(base: Settings) -> Iterator[PageEnv]:
    suffix = uuid.uuid4().hex[:8]
    kafka = base.kafka.model_copy(update={"topic_prefix": f"t-page-{suffix}", "partitions": 3})
    bootstrap_topics(kafka)
    dbname = create_database(base.postgres, f"t_page_{suffix}")
    end = datetime.now(UTC).date() - timedelta(days=1)
    try:
        with private_buckets(base, suffix) as s3:
            settings = base.model_copy(
                update={"kafka": kafka, "postgres": base.postgres.model_copy(update={"dbname": dbname}), "s3": s3}
            )
            with served(settings, end) as env:
                yield env
    finally:
        drop_database(base.postgres, dbname)
        delete_prefixed_topics(kafka)


@contextmanager
def served(settings: Settings, end: Any) -> Iterator[PageEnv]:
    """The pipeline running on ``settings``, eight weeks seeded and folded, and a real server."""
    with running_pipeline(settings), api_client(settings) as client:
        seed_weeks(client, settings, end)

        def folded() -> bool:
            response = client.get(
                "/v1/reports/engagement",
                params={"group_by": "tenant"},
                headers=bearer(settings, TENANT, "admin-1", "company_admin"),
            )
            body = response.json() if response.status_code == 200 else {}
            return body.get("day") == end.isoformat() and all(p["engagement"] is not None for p in body["series"])

        wait_until("eight weeks of scores", folded, timeout_s=240)
        # The server process gets the same private buckets (its links point into them).
        buckets = {
            "SKILLMIND_S3__EXPORTS_BUCKET": settings.s3.exports_bucket,
            "SKILLMIND_S3__ARCHIVE_BUCKET": settings.s3.archive_bucket,
        }
        with api_server(settings, **buckets) as server:
            yield PageEnv(settings, server.base_url, client, end.isoformat())
