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
def pipeline_settings(log_settings: Settings, report_db: Settings) -> Settings:
    """Private topics (all created) and a fresh migrated database: for a whole running pipeline."""
    return log_settings.model_copy(update={"postgres": report_db.postgres})
