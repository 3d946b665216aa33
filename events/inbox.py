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


def encode(record: dict[str, Any]) -> tuple[bytes, bytes]:
    """The inbox message of a record: keyed by tenant, valued by its canonical JSON.

    Raises ``ValueError`` (``rfc8785.CanonicalizationError``) for a value JCS cannot
    encode, e.g. an integer beyond ±(2**53 − 1)."""
    return record["tenantid"].encode(), jcs(record)


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
        """Encode every record, then produce them all and wait for every acknowledgement.

        Encoding comes first so a record that cannot be encoded fails the call before
        anything of the batch is produced."""
        self.append_encoded([encode(record) for record in records])

    def append_encoded(self, messages: Sequence[tuple[bytes, bytes]]) -> None:
        """Produce ``(key, value)`` pairs from :func:`encode` and wait for all acknowledgements."""
        if not messages:
            return
        done = threading.Event()
        remaining = [len(messages)]
        errors: list[KafkaError] = []
        lock = threading.Lock()

        def delivered(err: KafkaError | None, _msg: Message) -> None:
            with lock:
                if err is not None:
                    errors.append(err)
                remaining[0] -= 1
                if remaining[0] == 0:
                    done.set()

        for key, value in messages:
            self._produce(key, value, delivered)
        if not done.wait(self.timeout_s):
            raise LogError(f"Kafka did not acknowledge {remaining[0]} record(s) in {self.timeout_s:.0f}s")
        if errors:
            raise LogError(f"Kafka refused {len(errors)} record(s): {errors[0].str()}")

    def _produce(self, key: bytes, value: bytes, on_delivery: Any) -> None:
        while True:
            try:
                self._producer.produce(self.topic, key=key, value=value, on_delivery=on_delivery)
                return
            except BufferError:  # local queue full: let deliveries drain, then retry
                self._producer.poll(0.1)

    def close(self) -> None:
        self._producer.flush(self.timeout_s)
        self._closing.set()
        self._poller.join(timeout=5)
