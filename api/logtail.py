"""Where writes landed: a background tail of the log and the dead letters.

Mutation endpoints wait here for the sequence the sequencer gave their event (or the
reason it was refused), so they can answer with a log position, and reads can ask to
see at least that position (read-your-writes). Each API replica tails on its own,
from the end of the log at start-up; memory is bounded to the most recent records.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any, NamedTuple

import structlog
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from events.chain import NOT_READ, read_fast
from events.idempotency import content_digest
from events.kafka import consumer_config
from events.reader import partitions_of
from events.topics import topic_name
from skillmind.settings import KafkaSettings

log = structlog.get_logger(__name__)


def _loads(value: bytes) -> Any:
    """JSON as ``json.loads`` reads it, by orjson where that reads the same (``events.chain``)."""
    parsed = read_fast(value)
    return json.loads(value) if parsed is NOT_READ else parsed


class Landing(NamedTuple):
    """A tuple of plain values, so the collector stops tracking the many the tail remembers
    (a dataclass each made every full collection of the API process walk them all)."""

    sequence: int | None  # its position in the tenant's log, when accepted
    refusal: str | None = None  # the dead-letter reason, when refused
    rule: str | None = None  # the first broken rule, e.g. "tenant_exists"
    digest: str | None = None  # the content the id stands for in the log, when accepted


_SETTLING = {
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.UNKNOWN_TOPIC_OR_PART,
    KafkaError._TIMED_OUT,
    KafkaError._TRANSPORT,
}


def _end_offset(consumer: Consumer, tp: TopicPartition, attempts: int = 50) -> tuple[int, int]:
    """Watermarks, retried while the partition's leadership settles (e.g. a new topic)."""
    for attempt in range(attempts):
        try:
            return consumer.get_watermark_offsets(tp, timeout=10)
        except KafkaException as err:
            if err.args[0].code() not in _SETTLING or attempt == attempts - 1:
                raise
            time.sleep(0.1)
    raise AssertionError("unreachable")


class LogTail:
    def __init__(self, kafka: KafkaSettings, *, remember: int = 200_000) -> None:
        self.topics = [topic_name(kafka, "log"), topic_name(kafka, "dead-letter")]
        self._remember = remember
        self._landed: OrderedDict[tuple[str, str], Landing] = OrderedDict()
        self._heads: dict[str, int] = {}  # highest sequence seen per tenant
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._beat = time.monotonic()
        self.failures = 0
        self._consumer = Consumer(consumer_config(kafka))
        # Explicit end offsets, resolved now: a write right after start-up is not missed.
        start = []
        for topic in self.topics:
            for partition in partitions_of(kafka, topic):
                _, high = _end_offset(self._consumer, TopicPartition(topic, partition))
                start.append(TopicPartition(topic, partition, high))
        self._consumer.assign(start)
        self._thread = threading.Thread(target=self._run, name="log-tail", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._beat = time.monotonic()
            try:
                self._take(self._consumer.consume(1000, timeout=0.2))
            except Exception:  # the tail must outlive any record or hiccup
                # Without the tail every write answers `position: null` and repeats go
                # unnoticed: log, count, go on (a new-user trial killed it with one record).
                self.failures += 1
                log.exception("logtail.batch_failed", failures=self.failures)
                time.sleep(0.5)

    def problem(self) -> str | None:
        """Why this replica's log tail is not working, or None (for ``/readyz``)."""
        if not self._thread.is_alive():
            return "the API's log tail thread has stopped"
        if time.monotonic() - self._beat > 30:
            return f"the API's log tail has not polled for {time.monotonic() - self._beat:.0f} s"
        return None

    def _take(self, messages: list[Any]) -> None:
        batch = [m for m in messages if m.error() is None]
        if batch:
            # Read outside the lock: requests asking about their ids are not kept waiting.
            landings = [self._landing(msg.topic() or "", msg.value() or b"") for msg in batch]
            with self._changed:
                for landed in landings:
                    if landed:
                        self._landed[landed[0]] = landed[1]
                        tenant, sequence = landed[0][0], landed[1].sequence
                        if sequence is not None and sequence > self._heads.get(tenant, 0):
                            self._heads[tenant] = sequence
                while len(self._landed) > self._remember:
                    self._landed.popitem(last=False)
                self._changed.notify_all()

    def _landing(self, topic: str, value: bytes) -> tuple[tuple[str, str], Landing] | None:
        try:
            body = _loads(value)
            if topic == self.topics[0]:
                return (body["tenantid"], body["id"]), Landing(body["sequence"], digest=content_digest(body))
            original = _loads(base64.b64decode(body["original_base64"]))
            rule = body["problems"][0]["rule"] if body.get("problems") else None
            return (original["tenantid"], original["id"]), Landing(None, body["reason"], rule)
        except (ValueError, KeyError, TypeError, IndexError, RecursionError):
            # A dead letter that is not even an event (or nests too deep to read): nobody
            # waits for it.
            return None

    def appended(self, tenant: str, event_id: str) -> bool:
        """True when this replica has seen the event in the log (accepted, not refused)."""
        with self._changed:
            landing = self._landed.get((tenant, event_id))
        return landing is not None and landing.sequence is not None

    def digest_in_log(self, tenant: str, event_id: str) -> str | None:
        """The content digest the id has in the log, as far as this replica has seen; else None."""
        with self._changed:
            landing = self._landed.get((tenant, event_id))
        return landing.digest if landing is not None and landing.sequence is not None else None

    def head(self, tenant: str) -> int | None:
        """The highest sequence of ``tenant`` this replica has seen appended since it started."""
        with self._changed:
            return self._heads.get(tenant)

    def digests_in_log(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
        """:meth:`digest_in_log` of many ``(tenant, id)`` at once (one turn of the lock)."""
        with self._changed:
            landings = [(key, self._landed.get(key)) for key in keys]
        return {
            key: landing.digest
            for key, landing in landings
            if landing is not None and landing.sequence is not None and landing.digest is not None
        }

    def wait(self, tenant: str, event_id: str, timeout_s: float) -> Landing | None:
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while (tenant, event_id) not in self._landed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._changed.wait(remaining)
            return self._landed[(tenant, event_id)]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._consumer.close()
