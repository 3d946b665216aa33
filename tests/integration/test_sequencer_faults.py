"""Crash the sequencer (SIGKILL) again and again while 100k events stream in: every
accepted event must end up in the log exactly once, gap-free, with intact chains."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from events.inbox import InboxWriter
from events.topics import topic_name
from events.verify import verify_log
from schemas.examples import cloud_event
from skillmind.settings import Settings
from tests.integration.logtools import log_records, wait_drained

EVENTS = int(os.environ.get("SKILLMIND_FAULT_TEST_EVENTS", "100000"))
TENANTS = 12
KILLS = 8


def _stream(settings: Settings, done: threading.Event, sent: list[int]) -> None:
    writer = InboxWriter(settings.kafka)
    try:
        writer.append(
            [
                cloud_event(
                    "tenant.created",
                    {"tenant_id": f"t{i}", "name": "T"},
                    tenant=f"t{i}",
                    event_id=f"created-{i}",
                )
                for i in range(TENANTS)
            ]
        )
        batch = 2000
        for start in range(0, EVENTS, batch):
            events = [
                cloud_event(
                    "learner.signed_in",
                    {"learner_id": f"l{n % 300}"},
                    tenant=f"t{n % TENANTS}",
                    event_id=f"e{n}",
                )
                for n in range(start, min(start + batch, EVENTS))
            ]
            writer.append(events)
            if (start // batch) % 7 == 3:
                writer.append(events[: batch // 2])  # a writer's retry: duplicates
            sent[0] = start + len(events)
            time.sleep(0.3)  # a steady stream that outlives several crashes
    finally:
        writer.close()
        done.set()


def _wait_until_working(log_path: Path, previous_starts: int, partitions: int) -> None:
    """Until this start of the sequencer has recovered its partitions and begun to work."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if log_path.read_bytes().count(b'"sequencer.recovered"') >= (previous_starts + 1) * partitions:
            return
        time.sleep(0.1)
    raise AssertionError(f"the sequencer did not start; see {log_path}")


def test_sigkill_loop_loses_and_duplicates_nothing(log_settings: Settings, report_db: Settings, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "SKILLMIND_KAFKA__TOPIC_PREFIX": log_settings.kafka.topic_prefix,
        "SKILLMIND_KAFKA__PARTITIONS": str(log_settings.kafka.partitions),
        # A migrated database of its own: every restart recovers from the checkpoints the
        # killed ones saved (lagging by up to one interval), and the log must still be exact.
        "SKILLMIND_POSTGRES__DBNAME": report_db.postgres.dbname,
    }
    command = [sys.executable, "-m", "skillmind.cli", "--json-logs", "run", "sequencer", "--instance", "0"]
    log_file = open(tmp_path / "sequencer.log", "ab")  # noqa: SIM115 - closed below
    done, sent = threading.Event(), [0]
    streamer = threading.Thread(target=_stream, args=(log_settings, done, sent))
    streamer.start()
    rng = random.Random(7)
    kills = 0
    try:
        while kills < KILLS or not done.is_set():
            process = subprocess.Popen(command, env=env, stdout=log_file, stderr=log_file)
            _wait_until_working(tmp_path / "sequencer.log", kills, log_settings.kafka.partitions)
            time.sleep(rng.uniform(0.3, 2.5))  # then crash it somewhere mid-stream
            process.send_signal(signal.SIGKILL)
            process.wait()
            kills += 1
        final = subprocess.Popen(command, env=env, stdout=log_file, stderr=log_file)
        try:
            wait_drained(log_settings, timeout_s=300)
        finally:
            final.terminate()
            final.wait(30)
    finally:
        streamer.join()
        log_file.close()

    records = log_records(log_settings)
    ids = Counter(r["id"] for r in records)
    assert sent[0] == EVENTS
    assert len(records) == EVENTS + TENANTS, f"{len(records)} records after {kills} kills"
    assert max(ids.values()) == 1, "an event was appended twice"
    by_tenant: dict[str, list[int]] = {}
    for record in records:
        by_tenant.setdefault(record["tenantid"], []).append(record["sequence"])
    for tenant, sequences in by_tenant.items():
        assert sequences == list(range(1, len(sequences) + 1)), f"gap or disorder in {tenant}"
    result = verify_log(log_settings.kafka, topic_name(log_settings.kafka, "log"))
    assert result.ok, result.describe()
    assert result.verified == EVENTS + TENANTS
    assert kills >= KILLS
