import contextlib
import uuid
from collections.abc import Iterator

import pytest

from projections.database import create_database, drop_database
from skillmind.settings import Settings


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/integration/" in str(item.path):
            item.add_marker(pytest.mark.integration)


@pytest.fixture
def report_db(services_up: Settings) -> Iterator[Settings]:
    """Settings pointing at a fresh database with migrations applied (dropped afterwards)."""
    name = create_database(services_up.postgres, f"t_{uuid.uuid4().hex[:12]}")
    yield services_up.model_copy(update={"postgres": services_up.postgres.model_copy(update={"dbname": name})})
    drop_database(services_up.postgres, name)


@pytest.fixture
def pipeline_settings(log_settings: Settings, report_db: Settings) -> Iterator[Settings]:
    """Private topics (all created), a fresh migrated database and private buckets: for a
    whole running pipeline (its reconciler may only ever see its own objects)."""
    from minio.error import S3Error

    from jobs.objectstore import ensure_buckets, make_client

    suffix = uuid.uuid4().hex[:10]
    s3 = report_db.s3.model_copy(
        update={"exports_bucket": f"t-{suffix}-exports", "archive_bucket": f"t-{suffix}-archive"}
    )
    client = make_client(s3)
    ensure_buckets(client, s3)
    yield log_settings.model_copy(update={"postgres": report_db.postgres, "s3": s3})
    for bucket in (s3.exports_bucket, s3.archive_bucket):
        for obj in client.list_objects(bucket, recursive=True, include_version=True):
            with contextlib.suppress(S3Error):  # an object still under legal hold stays
                client.remove_object(bucket, obj.object_name, version_id=obj.version_id)
        with contextlib.suppress(S3Error):
            client.remove_bucket(bucket)
