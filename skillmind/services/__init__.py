"""Run the real services (Kafka, PostgreSQL, S3, Mailpit) locally, without Docker.

``skillmind services up|down|status|logs`` drives these. Each service keeps its
data under ``Settings.state_dir/<name>`` and its downloads under ``cache_dir``.
"""

from __future__ import annotations

from skillmind.services.base import Health, LocalService
from skillmind.services.kafka import Kafka
from skillmind.services.mailpit import Mailpit
from skillmind.services.postgres import Postgres
from skillmind.services.process import PortTaken, PrerequisiteMissing, ServiceError
from skillmind.services.s3 import S3Server
from skillmind.settings import Settings

SERVICE_TYPES: dict[str, type[LocalService]] = {
    "postgres": Postgres,
    "s3": S3Server,
    "kafka": Kafka,
    "mailpit": Mailpit,
}


def select(settings: Settings, names: tuple[str, ...] = ()) -> list[LocalService]:
    """The named services (all when none are named), in start-up order."""
    unknown = set(names) - SERVICE_TYPES.keys()
    if unknown:
        raise ServiceError(f"unknown service {', '.join(sorted(unknown))}; choose from {', '.join(SERVICE_TYPES)}.")
    return [cls(settings) for name, cls in SERVICE_TYPES.items() if not names or name in names]


__all__ = [
    "SERVICE_TYPES",
    "Health",
    "LocalService",
    "PortTaken",
    "PrerequisiteMissing",
    "ServiceError",
    "select",
]
