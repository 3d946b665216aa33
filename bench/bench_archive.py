"""The archiver: archive throughput against the raw consume of the same log, in one run.

    .venv/bin/python -m bench.bench_archive --learners 500     # ~20k events per tenant-set

Needs the services (`make services`). Writes a generated history straight into a private
log topic, then measures, on that log: the raw confluent-kafka consume (baseline); the
archiver's log worker (log → ``archive_buffer``, COPY in the offsets' transaction); the
sealer (buffer → Parquet objects in S3, files of ``archive.max_file_records``); and both
together, as `skillmind run archiver` does them, until every record is in an object.
"""

from __future__ import annotations

import argparse
import threading
import uuid
from datetime import date

import psycopg

from bench.common import Rate, isolated_settings, report, timed
from events.reader import read_to_end
from events.topics import topic_name
from jobs.archiver import Sealer, archiver_worker
from jobs.objectstore import make_client
from projections.database import create_database, drop_database
from skillmind.settings import Settings
from skillmind.workload import Shape, history, write_log


def _settings(learners: int) -> tuple[Settings, int]:
    base = isolated_settings()
    database = create_database(base.postgres, f"bench_{uuid.uuid4().hex[:8]}")
    bucket = f"bench-{uuid.uuid4().hex[:8]}-archive"
    make_client(base.s3).make_bucket(bucket, object_lock=True)
    settings = base.model_copy(
        update={
            "postgres": base.postgres.model_copy(update={"dbname": database}),
            "s3": base.s3.model_copy(update={"archive_bucket": bucket}),
        }
    )
    events = 0
    for n in range(4):
        shape = Shape(tenant=f"t{n}", programs=2, learners=learners // 4, days=28, end=date(2026, 11, 27), seed=n)
        events += write_log(settings, history(shape))
    return settings, events


def _worker_to_end(settings: Settings, events: int) -> None:
    stop = threading.Event()
    worker = archiver_worker(settings)

    def caught_up() -> None:
        if worker.counters.handled + worker.counters.skipped >= events:
            stop.set()

    worker.run(stop, caught_up)


def _both(settings: Settings, events: int) -> None:
    sealer_stop = threading.Event()
    sealer = Sealer(settings)
    thread = threading.Thread(target=sealer.run, args=(sealer_stop,), daemon=True)
    thread.start()
    _worker_to_end(settings, events)
    sealer_stop.set()
    thread.join()
    sealer.flush(force=True)


def _reset(settings: Settings) -> None:
    with psycopg.connect(settings.postgres.conninfo(), autocommit=True) as conn:
        conn.execute("truncate archive_buffer, archive_files, worker_positions")


def _cleanup(settings: Settings) -> None:
    s3, bucket = make_client(settings.s3), settings.s3.archive_bucket
    for obj in s3.list_objects(bucket, recursive=True):
        s3.remove_object(bucket, obj.object_name)
    drop_database(settings.postgres, settings.postgres.dbname)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--learners", type=int, default=2000)
    args = parser.parse_args()
    settings, events = _settings(args.learners)
    try:
        topic = topic_name(settings.kafka, "log")
        baseline = timed(
            "raw confluent-kafka consume of the log", events, lambda: sum(1 for _ in read_to_end(settings.kafka, topic))
        )
        worker = timed("archiver log worker: log → buffer (COPY)", events, lambda: _worker_to_end(settings, events))
        sealer = timed("sealer: buffer → Parquet objects in S3", events, lambda: Sealer(settings).flush(force=True))
        _reset(settings)
        both = timed("archiver (worker + sealer), log → objects", events, lambda: _both(settings, events))
        rates: list[Rate] = [worker, sealer, both]
        print(f"{events} events, files of {settings.archive.max_file_records} records")
        print(report(rates, baseline))
    finally:
        _cleanup(settings)


if __name__ == "__main__":
    main()
