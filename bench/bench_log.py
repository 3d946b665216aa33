"""Throughput of the log: raw produce (baseline), sequencer, HTTP batch ingest → log.

    .venv/bin/python -m bench.bench_log --events 100000

Needs the services (`make services`). Prints a table with ratios against the raw
confluent-kafka produce rate measured in the same run.
"""

from __future__ import annotations

import argparse
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

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


def raw_produce(settings: Settings, events: list[dict]) -> None:
    producer = Producer(producer_config(settings.kafka))
    topic = topic_name(settings.kafka, "dead-letter")  # any topic of the same shape
    for event in events:
        while True:
            try:
                producer.produce(topic, key=event["tenantid"].encode(), value=jcs(event))
                break
            except BufferError:
                producer.poll(0.05)
    producer.flush(60)


def run_sequencer_until(settings: Settings, expected: int) -> None:
    stop = threading.Event()
    sequencer = Sequencer(SequencerConfig(settings.kafka))
    thread = threading.Thread(target=sequencer.run, args=(stop,))
    thread.start()
    while sequencer.counters.appended < expected and thread.is_alive():
        time.sleep(0.05)
    stop.set()
    thread.join()


def http_ingest_to_log(settings: Settings, events: list[dict], batch: int, clients: int) -> None:
    token = mint_token(settings.api, tenant="t0", user="bench", roles=["platform_admin"])
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/cloudevents-batch+json"}
    with api_server(settings) as server:
        url = f"{server.base_url}/v1/events"
        # Tenants first, so their events are not dead-lettered as unknown tenants.
        httpx.post(url, content=jcs(events[:TENANTS]), headers=headers, timeout=60)
        rest = events[TENANTS:]
        chunks = [rest[i : i + batch] for i in range(0, len(rest), batch)]
        stop = threading.Event()
        sequencer = Sequencer(SequencerConfig(settings.kafka))
        thread = threading.Thread(target=sequencer.run, args=(stop,))
        thread.start()
        with httpx.Client(timeout=60) as client, ThreadPoolExecutor(clients) as pool:

            def post(chunk: list[dict]) -> None:
                response = client.post(url, content=jcs(chunk), headers=headers)
                assert response.status_code == 202, response.text

            list(pool.map(post, chunks))
        while sequencer.counters.appended < len(events) and thread.is_alive():
            time.sleep(0.05)
        stop.set()
        thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()

    settings = isolated_settings()
    events = workload(args.events, "seq")
    baseline = timed(
        "raw confluent-kafka produce (acks=all, idempotent)",
        len(events),
        lambda: raw_produce(settings, events),
    )
    inbox = InboxWriter(settings.kafka)
    fill = timed("InboxWriter.append (acks=all, waits for acks)", len(events), lambda: inbox.append(events))
    inbox.close()
    sequencing = timed(
        "sequencer: inbox → log (transactions of 1000)",
        len(events),
        lambda: run_sequencer_until(settings, len(events)),
    )

    http_settings = isolated_settings()
    http_events = workload(args.events, "http")
    http = timed(
        f"HTTP batch ingest → log ({args.batch}/request, {args.clients} clients)",
        len(http_events),
        lambda: http_ingest_to_log(http_settings, http_events, args.batch, args.clients),
    )
    rates: list[Rate] = [fill, sequencing, http]
    print(report(rates, baseline))


if __name__ == "__main__":
    main()
