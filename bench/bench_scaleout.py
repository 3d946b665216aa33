"""Scale-out on one box: the whole pipeline with one and with two instances of each component.

    .venv/bin/python -m bench.bench_scaleout --events 500000

Each run gets topics of 6 partitions and a database of its own, starts N sequencers, N
projection instances and an API with N workers (`bench/fleet.py`), and posts the workload
(12 tenants' generated histories, batches of 500, 4 client threads, each thread a set of
whole tenants so that every tenant's events arrive in order). Measured per run: the time
until every batch is answered 202 (ingest), and until the read models hold every event
(end to end). Ratios are against the one-instance run of the same invocation.

The third run (two instances) SIGKILLs one sequencer, one projection instance and one API
worker a third of the way in, restarts the two components, and then checks the outcome:
every event in the log once, gap-free sequences per tenant, the hash chains verify, no
record quarantined, and the live read models' checksums equal a clean replay's.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import signal
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.fleet import BATCH, Fleet, api_workers, applied, fleet, post_all, quarantined
from events.reader import read_to_end
from events.topics import bootstrap_topics, delete_prefixed_topics, topic_name
from events.verify import verify_log
from projections.database import create_database, drop_database
from projections.rebuild import checksums, rebuild
from skillmind.settings import Settings, load_settings
from skillmind.workload import Shape, history

TENANTS = 12
CLIENTS = 4


@dataclass(frozen=True)
class Run:
    name: str
    events: int
    ingest_s: float
    end_to_end_s: float

    @property
    def rate(self) -> float:
        return self.events / self.end_to_end_s


def _histories(learners: int) -> list[list[dict[str, Any]]]:
    per_client: list[list[dict[str, Any]]] = [[] for _ in range(CLIENTS)]
    for n in range(TENANTS):
        per_client[n % CLIENTS].extend(history(Shape(tenant=f"t{n}", learners=learners, days=14, seed=n)))
    return per_client


def workload(events: int) -> list[list[dict[str, Any]]]:
    """Per client thread, the histories of its tenants (in order); about ``events`` in all."""
    probe = sum(1 for _ in history(Shape(tenant="probe", learners=100, days=14)))  # events per 100 learners
    learners = max(10, round(events / TENANTS / (probe / 100)))
    first = _histories(learners)
    # The directory and the daily ticks do not grow with learners: correct the guess once.
    learners = max(10, round(learners * events / sum(map(len, first))))
    return _histories(learners)


def private(base: Settings) -> tuple[Settings, str]:
    """Settings with topics (6 partitions) and a live database of their own, plus a spare
    database for the replay; all removed at exit."""
    kafka = base.kafka.model_copy(update={"topic_prefix": f"bench-so-{uuid.uuid4().hex[:8]}", "partitions": 6})
    bootstrap_topics(kafka)
    atexit.register(delete_prefixed_topics, kafka)
    live, spare = (create_database(base.postgres, f"bench_so_{uuid.uuid4().hex[:10]}") for _ in range(2))
    for name in (live, spare):
        atexit.register(drop_database, base.postgres, name)
    postgres = base.postgres.model_copy(update={"dbname": live})
    return base.model_copy(update={"kafka": kafka, "postgres": postgres}), spare


def run(
    base: Settings, per_client: list[list[dict[str, Any]]], instances: Sequence[str], log_dir: Path, kill: bool
) -> tuple[Run, Settings, str]:
    settings, spare = private(base)
    total = sum(map(len, per_client))
    batches = sum((len(events) + BATCH - 1) // BATCH for events in per_client)
    name = f"{len(instances)} of each" + (", one of each SIGKILLed" if kill else "")
    with fleet(settings, log_dir / f"fleet-{len(instances)}-{int(kill)}.log", instances) as (processes, url):
        posted = [0]
        start = time.perf_counter()
        senders = [threading.Thread(target=post_all, args=(url, settings, events, posted)) for events in per_client]
        for sender in senders:
            sender.start()
        if kill:
            _kill_one_of_each(processes, posted, batches)
        for sender in senders:
            sender.join()
        ingest = time.perf_counter() - start
        while applied(settings) < total:
            time.sleep(0.2)
        end_to_end = time.perf_counter() - start
    return Run(name, total, ingest, end_to_end), settings, spare


def _kill_one_of_each(processes: Fleet, posted: list[int], batches: int) -> None:
    while posted[0] < batches // 3:
        time.sleep(0.1)
    processes.kill("sequencer-a")
    processes.kill("projections-a")
    os.kill(api_workers(processes.processes["api"].pid)[0], signal.SIGKILL)  # uvicorn starts another
    time.sleep(2)
    processes.start_component("sequencer", "a")  # as an orchestrator would
    processes.start_component("projections", "a")


def check(settings: Settings, spare: str, per_client: list[list[dict[str, Any]]]) -> list[str]:
    """What the killed run must show; each line a check and its outcome."""
    log_topic = topic_name(settings.kafka, "log")
    records = [json.loads(m.value()) for m in read_to_end(settings.kafka, log_topic)]
    sent = Counter(e["id"] for events in per_client for e in events)
    by_tenant: dict[str, list[int]] = {}
    for record in records:
        by_tenant.setdefault(record["tenantid"], []).append(record["sequence"])
    gap_free = all(seqs == list(range(1, len(seqs) + 1)) for seqs in by_tenant.values())
    verified = verify_log(settings.kafka, log_topic)
    aside = quarantined(settings)
    equal = checksums(settings) == rebuild(settings, database=spare)
    return [
        f"every event in the log once: {Counter(r['id'] for r in records) == sent} ({len(records):,} records)",
        f"gap-free sequences in {len(by_tenant)} tenants: {gap_free}",
        f"hash chains verify: {verified.ok}",
        f"quarantined: {aside or 'nothing'}",
        f"live checksums = clean replay: {equal}",
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=500_000, help="about this many events per run")
    parser.add_argument("--no-kill", action="store_true", help="skip the third run (kill and check)")
    args = parser.parse_args(argv)
    base = load_settings()
    per_client = workload(args.events)
    log_dir = Path(tempfile.mkdtemp(prefix="bench-scaleout-"))
    runs = [run(base, per_client, ("a",), log_dir, kill=False)[0], run(base, per_client, ("a", "b"), log_dir, False)[0]]
    lines: list[str] = []
    if not args.no_kill:
        killed, settings, spare = run(base, per_client, ("a", "b"), log_dir, kill=True)
        runs.append(killed)
        lines = check(settings, spare, per_client)
    one = runs[0]
    print(f"{runs[0].events:,} events, 12 tenants, 6 partitions; process logs in {log_dir}\n")
    print("| run | ingest s | end-to-end s | events/s end to end | vs one of each |")
    print("|---|---|---|---|---|")
    for r in runs:
        print(f"| {r.name} | {r.ingest_s:.1f} | {r.end_to_end_s:.1f} | {r.rate:,.0f} | {r.rate / one.rate:.2f}x |")
    for line in lines:
        print(f"- {line}")


if __name__ == "__main__":
    main()
