"""The sequencer: inbox → canonical log, exactly once, with Kafka transactions.

Each batch (up to ``batch_size`` records, or what came within ``batch_timeout_s``) is one
transaction (consume-transform-produce):

1. begin the transaction;
2. for each inbox record: validate, dedupe, number and chain it for the log partition of
   its tenant — or produce a dead letter, or forward a misrouted record to its owner's
   inbox partition;
3. produce the batch's log records, in order (each partition's last with a delivery report);
4. ``send_offsets_to_transaction`` with the consumer's group metadata (fences zombies);
5. commit; only then merge the batch's decisions into the in-memory state.

If anything fails before the commit, the transaction is aborted, the staged state
is dropped and the consumer rewinds to the batch's first offsets — the log and the
state never disagree. On a new partition assignment the state is rebuilt from the
log partition itself, after the group's committed offsets are stable (KIP-447),
so a crash at any point leaves neither a gap, a duplicate, nor a broken chain.

Recovery does not grow with the log: between transactions (never inside one) the
sequencer saves each partition's state as a checkpoint at the offset after its last
committed record (``events/sequencer_checkpoints.py``, at most every ``checkpoint_every_s``), and
on assignment starts from the checkpoint and reads only the log after it, adopting
records by the same rule as a full read. Without a checkpoint store, or when it cannot
be read, recovery reads the whole partition as before.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache

import structlog
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from events.deadletter import Origin, dead_letter, decode_json
from events.errors import LogError
from events.kafka import consumer_config, producer_config
from events.partitioning import partition_for
from events.reader import partitions_of, read_to_end
from events.sequencer_checkpoints import CheckpointStore, CheckpointUnavailable
from events.sequencing import Append, Batch, Duplicate, SequencerState
from events.topics import topic_id, topic_name
from schemas.timebounds import time_problem
from schemas.validation import Invalid, Problem, Valid, validate_event
from skillmind.settings import ContractSettings, KafkaSettings, PostgresSettings

log = structlog.get_logger(__name__)


@dataclass
class SequencerConfig:
    kafka: KafkaSettings
    instance_id: str = "0"
    dedupe_window: timedelta = timedelta(days=7)
    batch_size: int = 10000  # records per transaction at most; fewer when batch_timeout_s passes first
    batch_timeout_s: float = 0.05
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    contract: ContractSettings = field(default_factory=ContractSettings)
    postgres: PostgresSettings | None = None  # where checkpoints are kept; None: always read the whole log
    checkpoint_every_s: float = 10.0

    @property
    def group_id(self) -> str:
        return f"{self.kafka.topic_prefix}.sequencer"


@dataclass
class Counters:
    appended: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    forwarded: int = 0
    aborted_batches: int = 0


class Sequencer:
    def __init__(self, config: SequencerConfig) -> None:
        self.config = config
        kafka = config.kafka
        self.inbox = topic_name(kafka, "inbox")
        self.log_topic = topic_name(kafka, "log")
        self.dead_letters = topic_name(kafka, "dead-letter")
        self.partitions = len(partitions_of(kafka, self.inbox))
        if len(partitions_of(kafka, self.log_topic)) != self.partitions:
            raise LogError(
                f"{self.inbox} and {self.log_topic} must have the same number of partitions "
                "(a tenant's inbox partition and log partition are the same number)."
            )
        self.states: dict[int, SequencerState] = {}
        # partition -> offset after the last record of the state (recovered or delivered)
        self.log_next: dict[int, int] = {}
        self.checkpoints = CheckpointStore(config.postgres.conninfo(), self.log_topic) if config.postgres else None
        self.topic_id = topic_id(kafka, self.log_topic) if self.checkpoints else ""
        self._checkpointed_at = 0.0
        self.counters = Counters()
        self._appends: list[tuple[int, bytes, bytes]] = []  # (partition, key, value) of the open batch
        self.consumer = Consumer(
            consumer_config(
                kafka,
                config.group_id,
                # Static membership: a restarted instance takes its partitions straight back
                # instead of waiting for the group to notice the old member is gone.
                **{
                    "group.instance.id": f"{config.group_id}.{config.instance_id}",
                    "session.timeout.ms": 10000,
                    "partition.assignment.strategy": "range",
                    "max.poll.interval.ms": 300000,
                },
            )
        )
        # One stable transactional id per instance: a restarted instance fences its own zombie.
        self.producer = Producer(
            producer_config(
                kafka,
                **{
                    "transactional.id": f"{config.group_id}.{config.instance_id}",
                    "transaction.timeout.ms": 60000,
                },
            )
        )

    # -- partition ownership ---------------------------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # committed() waits until no transaction of a previous owner is pending on these
        # offsets (read_committed ⇒ require_stable), so the log partition is settled too.
        consumer.committed(partitions, timeout=120)
        self.states.update(self._recover([tp.partition for tp in partitions]))

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self.states.pop(tp.partition, None)

    def _recover(self, partitions: list[int]) -> dict[int, SequencerState]:
        """Rebuild heads and recent ids: each partition from its checkpoint (or empty), then
        every log record after it, in one pass."""
        states = {p: self._restored(p) for p in partitions}
        counts = dict.fromkeys(partitions, 0)
        starts = {p: self.log_next[p] for p in partitions}
        for msg in read_to_end(self.config.kafka, self.log_topic, partitions, start_offset=starts):
            partition = msg.partition() or 0  # read_to_end yields records only: always set
            self.log_next[partition] = (msg.offset() or 0) + 1
            if states[partition].load(msg.value()):
                counts[partition] += 1
            else:
                log.warning(
                    "sequencer.foreign_record_ignored",
                    topic=self.log_topic,
                    partition=msg.partition(),
                    offset=msg.offset(),
                    hint="a record not in the chain was written to the log directly; run `skillmind audit verify`",
                )
        now = self.config.clock()
        for partition, state in states.items():
            state.evict(now)
            # A state not wholly in the store (read, or never saved) is saved whole next time.
            state.unsaved.everything = counts[partition] > 0 or starts[partition] == 0
            log.info(
                "sequencer.recovered",
                topic=self.log_topic,
                partition=partition,
                from_offset=starts[partition],
                records=counts[partition],
                tenants=len(state.heads),
            )
        self._checkpointed_at = 0.0  # save the recovered states at the first chance
        return states

    def _restored(self, partition: int) -> SequencerState:
        """The partition's state from its checkpoint, or an empty one (then read from 0)."""
        checkpoint = None
        if self.checkpoints:
            try:
                checkpoint = self.checkpoints.load(partition, self.topic_id)
            except CheckpointUnavailable as err:
                log.warning(
                    "sequencer.checkpoint_unreadable", partition=partition, error=str(err), cause=str(err.__cause__)
                )
        self.log_next[partition] = checkpoint.log_offset if checkpoint else 0
        if checkpoint is None:
            return SequencerState(self.config.dedupe_window, tracking=self.checkpoints is not None)
        return SequencerState.restore(self.config.dedupe_window, checkpoint)

    def _delivered(self, err: KafkaError | None, msg: Message) -> None:
        """Delivery report of a log record: the state now covers the log up to it. Served only
        between transactions (poll/commit), so a checkpoint never counts an open one's record."""
        if err is None:
            partition = msg.partition() or 0  # set on every delivered record
            self.log_next[partition] = max(self.log_next.get(partition, 0), (msg.offset() or 0) + 1)

    def _checkpoint(self, *, force: bool = False) -> None:
        """Save each owned partition's state that changed, at most every ``checkpoint_every_s``.
        Called between transactions only. A failure is logged and retried later (the
        checkpoint lags; recovery reads a little more)."""
        now_s = time.monotonic()
        if self.checkpoints is None or (not force and now_s - self._checkpointed_at < self.config.checkpoint_every_s):
            return
        self._checkpointed_at = now_s
        self.producer.poll(0)  # serve the delivery reports of committed records first
        expired_before = self.config.clock() - self.config.dedupe_window
        for partition, state in list(self.states.items()):
            unsaved = state.take_unsaved()
            if not (unsaved.everything or unsaved.tenants or unsaved.ids):
                continue
            try:
                saved = self.checkpoints.save(
                    partition, self.topic_id, self.log_next[partition], state.heads, unsaved, expired_before
                )
            except CheckpointUnavailable as err:
                log.warning(
                    "sequencer.checkpoint_failed", partition=partition, error=str(err), cause=str(err.__cause__)
                )
                saved = False
            if not saved:
                state.keep_unsaved(unsaved)

    # -- the loop --------------------------------------------------------------------

    def run(self, stop: threading.Event, on_batch: Callable[[], None] | None = None) -> Counters:
        """Sequence until ``stop`` is set; ``on_batch`` is called after each committed batch."""
        # Join the group first: the join goes on in the background while the transactional id
        # is initialised (fencing our zombie), and assignments are served only in consume(),
        # after init_transactions has returned.
        self.consumer.subscribe([self.inbox], on_assign=self._on_assign, on_revoke=self._on_revoke)
        self.producer.init_transactions(60)
        try:
            while not stop.is_set():
                batch = self.consumer.consume(self.config.batch_size, self.config.batch_timeout_s)
                records = [m for m in batch if self._usable(m)]
                if records:
                    self._process(records)
                    if on_batch:
                        on_batch()
                self._checkpoint()
            self._checkpoint(force=True)  # a clean stop leaves nothing to re-read
        finally:
            self.consumer.close()
            self.producer.flush(10)
        return self.counters

    def _usable(self, msg: Message) -> bool:
        err = msg.error()
        if err is None:
            return True
        if err.fatal():
            raise LogError(f"fatal consumer error: {err.str()}")
        log.warning("sequencer.consumer_error", error=err.str())
        return False

    def _process(self, records: list[Message]) -> None:
        now = self.config.clock()
        contract = self.config.contract
        batches = {p: s.batch(now, contract.horizon, contract.max_future) for p, s in self.states.items()}
        first_offsets: dict[int, int] = {}
        next_offsets: dict[int, int] = {}
        outcomes: Counter[str] = Counter()
        self._appends = []
        self.producer.begin_transaction()
        try:
            for msg in records:
                partition, offset = msg.partition() or 0, msg.offset() or 0  # set on every record
                if partition not in batches:  # revoked since it was fetched: not ours to write
                    continue
                first_offsets.setdefault(partition, offset)
                next_offsets[partition] = offset + 1
                outcomes[self._sequence_one(msg, batches[partition], now)] += 1
            if not next_offsets:
                self.producer.abort_transaction(60)
                return
            self._produce_appends()
            self.producer.send_offsets_to_transaction(
                [TopicPartition(self.inbox, p, o) for p, o in next_offsets.items()],
                self.consumer.consumer_group_metadata(),
            )
            self.producer.commit_transaction()
        except KafkaException as err:
            self._abort(err, first_offsets)
            return
        except BaseException:
            # Not Kafka's doing (a bug, an interrupt): leave nothing half-written behind, rewind
            # so the next owner starts from this batch, and let the supervisor restart us.
            self._abort_quietly(first_offsets)
            raise
        for batch in batches.values():
            batch.commit()
        for outcome, count in outcomes.items():  # counted only once the transaction committed
            setattr(self.counters, outcome, getattr(self.counters, outcome) + count)

    def _produce_appends(self) -> None:
        """Produce the batch's log records, in order. Only each partition's last one asks for
        a delivery report: its offset is all a checkpoint needs (one producer, in order), and
        a Python callback per record cost more than its hash."""
        last = {partition: i for i, (partition, _, _) in enumerate(self._appends)}
        for i, (partition, key, value) in enumerate(self._appends):
            if last[partition] == i:
                self.producer.produce(
                    self.log_topic, key=key, value=value, partition=partition, on_delivery=self._delivered
                )
            else:
                self.producer.produce(self.log_topic, key=key, value=value, partition=partition)
        self._appends = []

    def _abort(self, err: KafkaException, first_offsets: dict[int, int]) -> None:
        error: KafkaError = err.args[0]
        if error.fatal() or (not error.txn_requires_abort() and not error.retriable()):
            raise LogError(f"sequencer cannot continue: {error.str()}; restart it") from err
        log.warning("sequencer.batch_aborted", error=error.str())
        self.counters.aborted_batches += 1
        self.producer.abort_transaction(60)
        self._rewind(first_offsets)

    def _abort_quietly(self, first_offsets: dict[int, int]) -> None:
        self.counters.aborted_batches += 1
        try:
            self.producer.abort_transaction(10)
            self._rewind(first_offsets)
        except KafkaException as err:  # the original error is the one worth raising
            log.warning("sequencer.abort_failed", error=str(err))

    def _rewind(self, first_offsets: dict[int, int]) -> None:
        for partition, offset in first_offsets.items():
            if partition in self.states:
                self.consumer.seek(TopicPartition(self.inbox, partition, offset))

    def _sequence_one(self, msg: Message, batch: Batch, now: datetime) -> str:
        """Handle one inbox record inside the open transaction; return what became of it.

        The hot path binds no logging context (it cost more than the hash): the rare lines
        it logs name the record's position themselves."""
        raw, problem = decode_json(msg.value())
        tenant = raw.get("tenantid") if isinstance(raw, dict) else None
        try:
            judged = Invalid((problem,)) if problem else validate_event(raw)
            if isinstance(judged, Valid) and not batch.earliest <= judged.envelope.time <= batch.latest:
                late = time_problem(
                    judged.envelope.time,
                    now,
                    max_future=self.config.contract.max_future,
                    horizon=self.config.contract.horizon,
                )
                judged = Invalid((late,)) if late else judged
            if isinstance(judged, Invalid):
                self._dead_letter(msg, judged.problems, now, tenant)
                return "dead_lettered"
            tenant = judged.envelope.tenantid
            owner = _owner(tenant, self.partitions)
            decision = None if owner != msg.partition() else batch.decide(judged)
        except Exception as err:
            # A record the contract let in but we cannot number or hash: dead-letter it
            # (deterministically, by its content) rather than fail every batch it is in.
            log.error("sequencer.record_failed", error=repr(err), **_position(msg))
            failure = Problem("$", "internal_error", f"could not be sequenced: {type(err).__name__}: {err}")
            self._dead_letter(msg, (failure,), now, tenant)
            return "dead_lettered"
        if decision is None:
            # Written with another partitioner: hand it to the sequencer that owns the tenant.
            self.producer.produce(self.inbox, key=tenant.encode(), value=msg.value(), partition=owner)
            log.info("sequencer.forwarded", tenant=tenant, owner=owner, **_position(msg))
            return "forwarded"
        if isinstance(decision, Append):
            self._appends.append((owner, tenant.encode(), decision.encoded))  # produced at the end of the batch
            return "appended"
        if isinstance(decision, Duplicate):
            log.debug("sequencer.duplicate", tenant=tenant, event_id=decision.event_id, **_position(msg))
            return "duplicates"
        self._dead_letter(msg, decision.problems, now, tenant)
        return "dead_lettered"

    def _dead_letter(self, msg: Message, problems: tuple[Problem, ...], now: datetime, tenant: object) -> None:
        tenant_id = tenant if isinstance(tenant, str) else None
        origin = Origin(msg.topic() or "", msg.partition() or 0, msg.offset() or 0)
        self.producer.produce(
            self.dead_letters,
            key=tenant_id.encode() if tenant_id else None,
            value=dead_letter(msg.value(), problems, origin, now, tenant_id),
        )
        log.info("sequencer.dead_lettered", reason="; ".join(str(p) for p in problems)[:500], **_position(msg))


@lru_cache(maxsize=65536)
def _owner(tenant: str, partitions: int) -> int:
    """The partition of ``tenant`` (murmur2 in Python costs more than a record's hash: remembered)."""
    return partition_for(tenant, partitions)


def _position(msg: Message) -> dict[str, object]:
    return {"topic": msg.topic(), "partition": msg.partition(), "offset": msg.offset()}
