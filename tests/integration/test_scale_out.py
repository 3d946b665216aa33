"""Scale-out on one box: two sequencers, two projection instances and an API with two
workers run at once on 6 partitions; one of each is SIGKILLed mid-run. Every event is in the
log once, each tenant's sequence is gap-free, the chains verify, and the live read models'
checksums equal a clean replay's.

Size: SKILLMIND_SCALE_LEARNERS learners per tenant × 4 tenants × 14 days (default 60,
about 4k events, for the suite); `docs/benchmarks.md` records a larger run.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.fleet import BATCH, api_workers, applied, fleet, post_all, quarantined
from events.topics import bootstrap_topics, delete_prefixed_topics, topic_name
from events.verify import verify_log
from projections.database import create_database, drop_database
from projections.rebuild import checksums, rebuild
from skillmind.settings import Settings
from skillmind.workload import Shape, history
from tests.integration.logtools import log_records, wait_drained

LEARNERS = int(os.environ.get("SKILLMIND_SCALE_LEARNERS", "60"))
TENANTS = 4


@pytest.fixture
def six_partitions(services_up: Settings) -> Iterator[tuple[Settings, str]]:
    """Topics of 6 partitions of this test's own, a migrated live database and a replay one."""
    kafka = services_up.kafka.model_copy(update={"topic_prefix": f"t-{uuid.uuid4().hex[:10]}", "partitions": 6})
    bootstrap_topics(kafka)
    live, replay = (create_database(services_up.postgres, f"scale_{uuid.uuid4().hex[:10]}") for _ in range(2))
    postgres = services_up.postgres.model_copy(update={"dbname": live})
    yield services_up.model_copy(update={"kafka": kafka, "postgres": postgres}), replay
    for name in (live, replay):
        drop_database(services_up.postgres, name)
    delete_prefixed_topics(kafka)


def test_two_of_everything_one_of_each_killed(six_partitions: tuple[Settings, str], tmp_path: Path) -> None:
    settings, replay_db = six_partitions
    events = [e for n in range(TENANTS) for e in history(Shape(tenant=f"t{n}", learners=LEARNERS, days=14, seed=n))]
    batches = (len(events) + BATCH - 1) // BATCH
    with fleet(settings, tmp_path / "fleet.log") as (processes, url):
        posted = [0]
        sender = threading.Thread(target=post_all, args=(url, settings, events, posted))
        sender.start()
        while posted[0] < batches // 3 and sender.is_alive():
            time.sleep(0.1)
        assert posted[0] < batches, "the kills came after all the work: make the run bigger"
        processes.kill("sequencer-a")
        processes.kill("projections-a")
        os.kill(api_workers(processes.processes["api"].pid)[0], signal.SIGKILL)  # uvicorn starts another
        time.sleep(2)
        processes.start_component("sequencer", "a")  # as an orchestrator would
        processes.start_component("projections", "a")
        sender.join(600)
        wait_drained(settings, timeout_s=300)
        deadline = time.monotonic() + 300
        while applied(settings) < len(log_records(settings)) and time.monotonic() < deadline:
            time.sleep(0.5)

    records = log_records(settings)
    assert Counter(r["id"] for r in records) == Counter(e["id"] for e in events), "every event once"
    for tenant in {r["tenantid"] for r in records}:
        sequences = [r["sequence"] for r in records if r["tenantid"] == tenant]
        assert sequences == list(range(1, len(sequences) + 1)), f"gap or disorder in {tenant}"
    result = verify_log(settings.kafka, topic_name(settings.kafka, "log"))
    assert result.ok, result.describe()
    assert applied(settings) == len(records)
    assert quarantined(settings) == {}, "no record set aside"
    assert checksums(settings) == rebuild(settings, database=replay_db)
