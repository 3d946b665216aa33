"""SIGKILL the live projection processor again and again; its tables must end up
byte-identical (same checksums) to a clean replay of the same log.

Size: SKILLMIND_FAULT_LEARNERS learners per tenant × 3 tenants × 56 days (default 700,
about 90k events and 118k daily scores). `docs/benchmarks.md` records a 1M-event run.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from projections.database import create_database, drop_database
from projections.rebuild import checksums, rebuild
from skillmind.settings import Settings
from skillmind.workload import Shape, history, write_log

LEARNERS = int(os.environ.get("SKILLMIND_FAULT_LEARNERS", "700"))
KILLS = 6


@pytest.fixture
def two_databases(services_up: Settings) -> Iterator[tuple[str, str]]:
    names = tuple(create_database(services_up.postgres, f"fault_{uuid.uuid4().hex[:10]}") for _ in range(2))
    yield names  # type: ignore[misc]
    for name in names:
        drop_database(services_up.postgres, name)


def _applied(settings: Settings, database: str) -> int:
    with psycopg.connect(settings.postgres.conninfo(database)) as conn:
        exists = conn.execute("select to_regclass('readmodel.tenant_positions')").fetchone()[0]
        if exists is None:
            return 0
        return conn.execute("select coalesce(sum(sequence), 0) from readmodel.tenant_positions").fetchone()[0]


def test_sigkill_loop_then_checksums_equal_a_clean_replay(
    log_settings: Settings, two_databases: tuple[str, str], tmp_path: Path
) -> None:
    live_db, replay_db = two_databases
    total = sum(
        write_log(log_settings, history(Shape(tenant=f"t{n}", learners=LEARNERS, days=56, seed=n))) for n in range(3)
    )
    env = {
        **os.environ,
        "SKILLMIND_KAFKA__TOPIC_PREFIX": log_settings.kafka.topic_prefix,
        "SKILLMIND_KAFKA__PARTITIONS": str(log_settings.kafka.partitions),
        "SKILLMIND_POSTGRES__DBNAME": live_db,
    }
    command = [sys.executable, "-m", "skillmind.cli", "--json-logs", "run", "projections"]
    rng = random.Random(11)
    progress_at_kill = []
    with open(tmp_path / "projections.log", "ab") as log_file:
        for _ in range(KILLS):
            before = _applied(log_settings, live_db)
            process = subprocess.Popen(command, env=env, stdout=log_file, stderr=log_file)
            deadline = time.monotonic() + 90
            while _applied(log_settings, live_db) == before and time.monotonic() < deadline:
                time.sleep(0.2)  # until this incarnation has committed something
            time.sleep(rng.uniform(0.2, 2.5))
            process.send_signal(signal.SIGKILL)
            process.wait()
            progress_at_kill.append(_applied(log_settings, live_db))
        final = subprocess.Popen(command, env=env, stdout=log_file, stderr=log_file)
        try:
            deadline = time.monotonic() + 600
            while _applied(log_settings, live_db) < total and time.monotonic() < deadline:
                time.sleep(0.5)
        finally:
            final.terminate()
            final.wait(60)
    assert progress_at_kill[0] < total, "the first kill came after all the work: make the run bigger"
    assert _applied(log_settings, live_db) == total

    clean = rebuild(log_settings, database=replay_db)
    assert checksums(log_settings, database=live_db) == clean
    assert clean["daily_scores"].startswith(f"{3 * LEARNERS * 56}:")
