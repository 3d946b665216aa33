"""Create what the running system needs — topics, database schema, buckets — and report health.

Every step is idempotent, so `make demo` and `make test` can call it on every run.
"""

from __future__ import annotations

from dataclasses import dataclass

from events.topics import bootstrap_topics
from jobs.objectstore import ensure_buckets, make_client
from projections.database import connect, scalar
from projections.migrate import apply_migrations
from skillmind import services
from skillmind.settings import Settings


@dataclass(frozen=True)
class Check:
    component: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'ok ' if self.ok else 'BAD'}  {self.component:<34} {self.detail}"


def bootstrap(settings: Settings) -> list[Check]:
    """Topics, migrations and buckets; returns one check per thing created or found."""
    checks = []
    for topic in bootstrap_topics(settings.kafka):
        if topic.drift:
            checks.append(Check(f"topic {topic.name}", False, "; ".join(topic.drift)))
        else:
            checks.append(Check(f"topic {topic.name}", True, "created" if topic.created else "exists"))
    with connect(settings.postgres) as conn:
        applied = apply_migrations(conn)
        version = scalar(conn, "select max(version) from schema_migrations")
    checks.append(Check("database schema", True, f"version {version} ({len(applied)} migration(s) applied now)"))
    for bucket in ensure_buckets(make_client(settings.s3), settings.s3):
        checks.append(Check(f"bucket {bucket.name}", True, "created" if bucket.created else "exists"))
    return checks


def health(settings: Settings) -> list[Check]:
    """One check per service, as `skillmind services status` sees them."""
    return [
        Check(f"service {h.name}", h.healthy, f"pid {h.pid} at {h.address}" if h.healthy else h.problem or "")
        for h in (svc.status() for svc in services.select(settings))
    ]
