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
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from api.auth import mint_token
from bench.common import free_port
from events.topics import bootstrap_topics, delete_prefixed_topics, topic_name
from events.verify import verify_log
from projections.database import create_database, drop_database
from projections.rebuild import checksums, rebuild
from schemas.envelope import BATCH_CONTENT_TYPE
from skillmind.settings import Settings
from skillmind.workload import Shape, history
from tests.integration.logtools import log_records, wait_drained

LEARNERS = int(os.environ.get("SKILLMIND_SCALE_LEARNERS", "60"))
TENANTS = 4
BATCH = 500


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


class Fleet:
    """The processes of the run, started with the test's settings; logs in one file."""

    def __init__(self, settings: Settings, log_path: Path) -> None:
        self.env = {
            **os.environ,
            "SKILLMIND_KAFKA__TOPIC_PREFIX": settings.kafka.topic_prefix,
            "SKILLMIND_KAFKA__PARTITIONS": "6",
            "SKILLMIND_POSTGRES__DBNAME": settings.postgres.dbname,
        }
        self.log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, *args: str) -> None:
        command = [sys.executable, "-m", "skillmind.cli", "--json-logs", *args]
        self.processes[name] = subprocess.Popen(command, env=self.env, stdout=self.log, stderr=self.log)

    def kill(self, name: str) -> None:
        self.processes[name].send_signal(signal.SIGKILL)
        self.processes[name].wait()

    def stop(self) -> None:
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            process.wait(60)
        self.log.close()


def api_workers(server_pid: int) -> list[int]:
    """The uvicorn worker processes of ``skillmind serve --workers N``."""
    children = Path(f"/proc/{server_pid}/task/{server_pid}/children").read_text().split()
    # multiprocessing's spawned workers, not its resource tracker
    return [int(pid) for pid in children if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]


@contextmanager
def fleet(settings: Settings, tmp_path: Path) -> Iterator[tuple[Fleet, str]]:
    processes = Fleet(settings, tmp_path / "fleet.log")
    port = free_port()
    try:
        for instance in ("a", "b"):
            processes.start(f"sequencer-{instance}", "run", "sequencer", "--instance", f"scale-{instance}")
            processes.start(f"projections-{instance}", "run", "projections", "--instance", f"scale-{instance}")
        processes.start("api", "serve", "--port", str(port), "--workers", "2")
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while len(api_workers(processes.processes["api"].pid)) < 2 or not _up(url):
            assert time.monotonic() < deadline, f"the API did not come up; see {tmp_path / 'fleet.log'}"
            time.sleep(0.2)
        yield processes, url
    finally:
        processes.stop()


def _up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def post_all(url: str, settings: Settings, events: list[dict[str, Any]], posted: list[int]) -> None:
    """Every batch until it is answered (a killed worker's batch is sent again: ids dedupe)."""
    token = mint_token(settings.api, tenant="t0", user="root", roles=["platform_admin"])
    headers = {"Authorization": f"Bearer {token}", "Content-Type": BATCH_CONTENT_TYPE}
    with httpx.Client(timeout=30) as client:
        for start in range(0, len(events), BATCH):
            while True:
                try:
                    response = client.post(f"{url}/v1/events", headers=headers, json=events[start : start + BATCH])
                    if response.status_code == 202:
                        break
                except httpx.HTTPError:
                    pass  # the worker died under the request: send the batch again
                time.sleep(0.2)
            posted[0] += 1


def applied(settings: Settings) -> int:
    with psycopg.connect(settings.postgres.conninfo()) as conn:
        if conn.execute("select to_regclass('readmodel.tenant_positions')").fetchone()[0] is None:
            return 0
        return conn.execute("select coalesce(sum(sequence), 0) from readmodel.tenant_positions").fetchone()[0]


def test_two_of_everything_one_of_each_killed(six_partitions: tuple[Settings, str], tmp_path: Path) -> None:
    settings, replay_db = six_partitions
    events = [e for n in range(TENANTS) for e in history(Shape(tenant=f"t{n}", learners=LEARNERS, days=14, seed=n))]
    batches = (len(events) + BATCH - 1) // BATCH
    with fleet(settings, tmp_path) as (processes, url):
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
        processes.start("sequencer-a", "run", "sequencer", "--instance", "scale-a")  # as an orchestrator would
        processes.start("projections-a", "run", "projections", "--instance", "scale-a")
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


def quarantined(settings: Settings) -> dict[str, list[Any]]:
    """rule -> its quarantined records (partition, offset, tenant, sequence, reason), the first 3."""
    with psycopg.connect(settings.postgres.conninfo()) as conn:
        rows = conn.execute(
            "select rule, log_partition, log_offset, tenant_id, sequence, reason from readmodel.quarantine "
            "order by log_partition, log_offset"
        ).fetchall()
    found: dict[str, list[Any]] = {}
    for rule, *where in rows:
        found.setdefault(rule, []).append(tuple(where))
    return {rule: [len(rows), *rows[:3]] for rule, rows in found.items()}
