"""Append records to the inbox: idempotent, acks=all, keyed by tenant.

Used by the HTTP ingest and the API's own mutations. ``append`` returns only when
every record is durably in Kafka (or raises), so "accepted" means what it says.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from events.chain import jcs
from events.errors import LogError
from events.kafka import producer_config
from events.topics import topic_name
from skillmind.settings import KafkaSettings


class InboxWriter:
    """Thread-safe; one per process. A background thread serves delivery callbacks."""

    def __init__(self, kafka: KafkaSettings, *, timeout_s: float = 30.0) -> None:
        self.topic = topic_name(kafka, "inbox")
        self.timeout_s = timeout_s
        self._producer = Producer(producer_config(kafka))
        self._closing = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="inbox-delivery", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        while not self._closing.is_set():
            self._producer.poll(0.05)

    def append(self, records: Sequence[dict[str, Any]]) -> None:
        """Produce every record and wait for all acknowledgements."""
        if not records:
            return
        done = threading.Event()
        remaining = [len(records)]
        errors: list[KafkaError] = []
        lock = threading.Lock()

        def delivered(err: KafkaError | None, _msg: Message) -> None:
            with lock:
                if err is not None:
                    errors.append(err)
                remaining[0] -= 1
                if remaining[0] == 0:
                    done.set()

        for record in records:
            self._produce(record, delivered)
        if not done.wait(self.timeout_s):
            raise LogError(f"Kafka did not acknowledge {remaining[0]} record(s) in {self.timeout_s:.0f}s")
        if errors:
            raise LogError(f"Kafka refused {len(errors)} record(s): {errors[0].str()}")

    def _produce(self, record: dict[str, Any], on_delivery: Any) -> None:
        while True:
            try:
                self._producer.produce(
                    self.topic,
                    key=record["tenantid"].encode(),
                    value=jcs(record),
                    on_delivery=on_delivery,
                )
                return
            except BufferError:  # local queue full: let deliveries drain, then retry
                self._producer.poll(0.1)

    def close(self) -> None:
        self._producer.flush(self.timeout_s)
        self._closing.set()
        self._poller.join(timeout=5)
