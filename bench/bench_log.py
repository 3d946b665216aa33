"""Throughput of the log: raw produce (baseline), sequencer, HTTP batch ingest → log.

    .venv/bin/python -m bench.bench_log --events 100000

Needs the services (`make services`). Prints a table with ratios against the raw
confluent-kafka produce rate measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from confluent_kafka import Producer

from api.auth import mint_token
from bench.common import Rate, api_server, isolated_settings, report, timed
from events.chain import jcs
from events.inbox import InboxWriter
from events.kafka import producer_config
from events.sequencer import Sequencer, SequencerConfig
from events.topics import topic_name
from schemas.examples import cloud_event
from skillmind.runtime import tune_gc
from skillmind.settings import Settings

TENANTS = 20


def workload(count: int, tag: str) -> list[dict]:
    """``TENANTS`` tenant.created events, then learner sign-ins spread over the tenants."""
    start = datetime(2026, 11, 1, tzinfo=UTC)
    events = [
        cloud_event(
            "tenant.created",
            {"tenant_id": f"t{i}", "name": f"Tenant {i}"},
            tenant=f"t{i}",
            event_id=f"{tag}-create-{i}",
        )
        for i in range(TENANTS)
    ]
    for n in range(count - TENANTS):
        tenant = f"t{n % TENANTS}"
        events.append(
            cloud_event(
                "learner.signed_in",
                {"learner_id": f"l{n % 5000}"},
                tenant=tenant,
                event_id=f"{tag}-{n}",
                time=start + timedelta(seconds=n),
            )
        )
    return events


def raw_producer(settings: Settings, *, warm: bool) -> tuple[Producer, str]:
    """The baseline's producer; ``warm``: connected, past a first record to every partition. A
    new topic's leaders settle within its first second, which the cold baseline includes (it
    varied 0.6–1.3 s from run to run on this machine; warm it is about 0.35 s)."""
    producer = Producer(producer_config(settings.kafka))
    topic = topic_name(settings.kafka, "dead-letter")  # any topic of the same shape
    if warm:
        for partition in range(settings.kafka.partitions):
            producer.produce(topic, value=b"{}", partition=partition)
        producer.flush(60)
    return producer, topic


def raw_produce(producer: Producer, topic: str, events: list[dict]) -> None:
    for event in events:
        while True:
            try:
                producer.produce(topic, key=event["tenantid"].encode(), value=jcs(event))
                break
            except BufferError:
                producer.poll(0.05)
    producer.flush(60)


@dataclass
class Watch:
    """When a sequencer committed its first batch, and when the log held every record."""

    sequencer: Sequencer
    expected: int
    done: threading.Event = field(default_factory=threading.Event)
    first_at: float = 0.0
    first_count: int = 0
    done_at: float = 0.0
    cpu_s: float = 0.0  # CPU time of the sequencer's thread, start-up included

    def run(self, stop: threading.Event) -> None:
        began = time.thread_time()
        try:
            self.sequencer.run(stop, self.on_batch)
        finally:
            self.cpu_s = time.thread_time() - began

    def on_batch(self) -> None:
        now, appended = time.perf_counter(), self.sequencer.counters.appended
        if not self.first_at:
            self.first_at, self.first_count = now, appended
        if appended >= self.expected and not self.done_at:
            self.done_at = now
            self.done.set()

    def steady(self, name: str) -> Rate:
        """The rate after the first committed batch: start-up (transactions, group join,
        recovery) and that batch left out."""
        return Rate(name, self.expected - self.first_count, self.done_at - self.first_at)


def run_sequencer_until(settings: Settings, expected: int) -> Watch:
    stop = threading.Event()
    watch = Watch(Sequencer(SequencerConfig(settings.kafka)), expected)
    thread = threading.Thread(target=watch.run, args=(stop,))
    thread.start()
    while not watch.done.wait(0.05) and thread.is_alive():
        pass
    stop.set()
    thread.join()
    return watch


def process_cpu_s(pid: int) -> float:
    """CPU seconds of process ``pid`` and its children (Linux ``/proc``; 0 elsewhere)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(process_cpu_s(int(child)) for child in children)


@dataclass(frozen=True)
class HttpRun:
    start_s: float  # server up, tenants posted, sequencer started
    steady_s: float  # from the first POST of the learner events until the log held every record
    server_cpu_s: float  # CPU of `skillmind serve` meanwhile (Linux)
    sequencer_cpu_s: float


def http_ingest_to_log(settings: Settings, events: list[dict], batch: int, clients: int, workers: int = 1) -> HttpRun:
    """Post ``events`` to a fresh `skillmind serve` while a sequencer runs."""
    token = mint_token(settings.api, tenant="t0", user="bench", roles=["platform_admin"])
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/cloudevents-batch+json"}
    began = time.perf_counter()
    with api_server(settings, workers=workers) as server:
        url = f"{server.base_url}/v1/events"
        # Tenants first, so their events are not dead-lettered as unknown tenants.
        httpx.post(url, content=jcs(events[:TENANTS]), headers=headers, timeout=60)
        rest = events[TENANTS:]
        chunks = [rest[i : i + batch] for i in range(0, len(rest), batch)]
        stop = threading.Event()
        watch = Watch(Sequencer(SequencerConfig(settings.kafka)), len(events))
        thread = threading.Thread(target=watch.run, args=(stop,))
        thread.start()
        with httpx.Client(timeout=60) as client, ThreadPoolExecutor(clients) as pool:

            def post(chunk: list[dict]) -> None:
                response = client.post(url, content=jcs(chunk), headers=headers)
                assert response.status_code == 202, response.text

            posting, server_cpu = time.perf_counter(), process_cpu_s(server.pid)
            list(pool.map(post, chunks))
        while not watch.done.wait(0.05) and thread.is_alive():
            pass
        server_cpu = process_cpu_s(server.pid) - server_cpu
        stop.set()
        thread.join()
    return HttpRun(posting - began, watch.done_at - posting, server_cpu, watch.cpu_s)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers of `skillmind serve`")
    args = parser.parse_args()

    tune_gc()  # as `skillmind run` does: this process hosts the sequencer
    settings = isolated_settings()
    events = workload(args.events, "seq")
    # The baseline, as issue 14 measured it: a new producer on a new topic, its start timed.
    baseline = timed(
        "raw confluent-kafka produce (acks=all, idempotent)",
        len(events),
        lambda: raw_produce(*raw_producer(settings, warm=False), events),
    )
    producer, topic = raw_producer(settings, warm=True)
    warm = timed(
        "  the same, producer connected, topic settled", len(events), lambda: raw_produce(producer, topic, events)
    )
    inbox = InboxWriter(settings.kafka)
    fill = timed("InboxWriter.append (acks=all, waits for acks)", len(events), lambda: inbox.append(events))
    inbox.close()
    watches: list[Watch] = []
    label = f"sequencer: inbox → log (transactions ≤ {SequencerConfig.batch_size:,})"
    sequencing = timed(label, len(events), lambda: watches.append(run_sequencer_until(settings, len(events))))
    steady = watches[0].steady("  the same after start-up and its first transaction")

    http_settings = isolated_settings()
    http_events = workload(args.events, "http")
    phases: list[HttpRun] = []
    http = timed(
        f"HTTP batch ingest → log ({args.batch}/request, {args.clients} clients, {args.workers} worker(s))",
        len(http_events),
        lambda: phases.append(http_ingest_to_log(http_settings, http_events, args.batch, args.clients, args.workers)),
    )
    http_steady = Rate("  the same from the first POST (server up)", len(http_events) - TENANTS, phases[0].steady_s)
    rates: list[Rate] = [warm, fill, sequencing, steady, http, http_steady]
    print(report(rates, baseline))
    per_event = 1e6 / len(events)
    print(
        f"CPU per event: sequencer thread {watches[0].cpu_s * per_event:.1f} µs (start-up included); "
        f"during HTTP ingest, `skillmind serve` {phases[0].server_cpu_s * per_event:.1f} µs, "
        f"sequencer thread {phases[0].sequencer_cpu_s * per_event:.1f} µs"
    )


if __name__ == "__main__":
    main()
