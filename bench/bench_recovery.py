"""Sequencer recovery time against the size of the log: a full read vs a checkpoint (issue 14).

    .venv/bin/python -m bench.bench_recovery --records 1000000 3000000

For each size, in topics and a database of its own: a log written straight into the log
topic (``skillmind.workload.write_log``: numbered and chained by the sequencer's rules, 20
tenants, appended 30 days ago, so the 7-day dedupe window holds only the tail), then the
recovery of all 6 partitions, as a new owner does on assignment:

- *full read*: no checkpoint, every record of the log (the baseline of the row);
- *checkpoint, nothing after*: from a checkpoint saved at the end of the log;
- *checkpoint + tail*: from that checkpoint after ``--tail`` more records (appended now,
  so in the dedupe window) were written after it.
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from bench.common import isolated_settings
from events.sequencer import Sequencer, SequencerConfig
from events.sequencing import SequencerState
from events.topics import delete_prefixed_topics
from projections.database import create_database, drop_database
from schemas.examples import cloud_event
from skillmind.settings import Settings
from skillmind.workload import write_log

TENANTS = 20


def events(tag: str, count: int, start: int, when: datetime) -> Iterator[dict]:
    """``count`` sign-ins over the tenants (after their ``tenant.created`` when ``start`` is 0)."""
    if start == 0:
        for i in range(TENANTS):
            yield cloud_event("tenant.created", {"tenant_id": f"t{i}", "name": f"T{i}"}, tenant=f"t{i}", time=when)
    for n in range(start, start + count):
        yield cloud_event(
            "learner.signed_in",
            {"learner_id": f"l{n % 5000}"},
            tenant=f"t{n % TENANTS}",
            event_id=f"{tag}-{n}",
            time=when,
        )


def recover(settings: Settings, *, checkpoints: bool, save: bool = False) -> float:
    """Seconds to recover every partition (and, with ``save``, then save a checkpoint)."""
    sequencer = Sequencer(SequencerConfig(settings.kafka, postgres=settings.postgres if checkpoints else None))
    try:
        start = time.perf_counter()
        sequencer.states = sequencer._recover(list(range(settings.kafka.partitions)))
        seconds = time.perf_counter() - start
        if save:
            sequencer._checkpoint(force=True)
        return seconds
    finally:
        sequencer.consumer.close()


def one_size(records: int, tail: int) -> dict[str, float]:
    settings = isolated_settings()
    database = create_database(settings.postgres, f"bench_{uuid.uuid4().hex[:10]}")
    settings = settings.model_copy(update={"postgres": settings.postgres.model_copy(update={"dbname": database})})
    try:
        old = datetime.now(UTC) - timedelta(days=30)
        state = SequencerState(timedelta(days=7))
        started = time.perf_counter()
        write_log(settings, events("e", records, 0, old), now=old, state=state)
        written = time.perf_counter() - started
        full = recover(settings, checkpoints=False)
        recover(settings, checkpoints=True, save=True)  # the first owner reads it all and saves
        at_end = recover(settings, checkpoints=True)
        write_log(settings, events("e", tail, records, datetime.now(UTC)), state=state)
        with_tail = recover(settings, checkpoints=True)
        return {"written": written, "full": full, "at_end": at_end, "with_tail": with_tail}
    finally:
        drop_database(settings.postgres, database)
        delete_prefixed_topics(settings.kafka)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, nargs="+", default=[1_000_000, 3_000_000])
    parser.add_argument("--tail", type=int, default=10_000)
    args = parser.parse_args()
    print(f"| log records | write s | full read s | checkpoint, nothing after s | checkpoint + {args.tail:,} s |")
    print("|---|---|---|---|---|")
    for records in args.records:
        r = one_size(records, args.tail)
        print(
            f"| {records:,} | {r['written']:.1f} | {r['full']:.2f} (1.000×) | {r['at_end']:.2f} "
            f"({r['at_end'] / r['full']:.3f}×) | {r['with_tail']:.2f} ({r['with_tail'] / r['full']:.3f}×) |",
            flush=True,
        )


if __name__ == "__main__":
    main()
