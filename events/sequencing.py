"""The sequencer's decisions, without Kafka: number, chain and deduplicate each tenant's events.

State per tenant is its head (last sequence, hash, append time) and the ids seen in
the dedupe window. Decisions are staged in a :class:`Batch` and merged only when
the Kafka transaction that wrote them has committed, so an aborted batch leaves
the state exactly as the log is. A :class:`Checkpoint` is that state at a log offset;
the state remembers what changed since the last saved one (:class:`Unsaved`).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from events.chain import GENESIS_HASH, loads_strict, seal
from schemas.types import format_utc, parse_utc
from schemas.v1 import TenantCreated
from schemas.validation import Problem, Valid


class Head(NamedTuple):  # one per record appended: a tuple is built in a third of a frozen dataclass's time
    sequence: int
    hash: str
    appended_at: datetime


class Append(NamedTuple):  # one per record appended, like Head
    record: dict[str, Any]
    encoded: bytes  # the record's canonical JSON (RFC 8785): the bytes the log holds


@dataclass(frozen=True)
class Duplicate:
    tenant: str
    event_id: str


@dataclass(frozen=True)
class Reject:
    problems: tuple[Problem, ...]


Decision = Append | Duplicate | Reject


def _log_record(value: bytes | None) -> dict[str, Any] | None:
    """The log record in ``value`` when it has what recovery reads, else None."""
    try:
        record = loads_strict(value or b"")
        if not isinstance(record, dict) or not isinstance(record.get("sequence"), int):
            return None
        if not all(isinstance(record.get(k), str) for k in ("tenantid", "id", "prevhash", "hash")):
            return None
        parse_utc(record["appendedat"])
        return record
    except (ValueError, TypeError, AttributeError, RecursionError):
        return None


@dataclass(frozen=True)
class Checkpoint:
    """A partition's sequencer state after every log record before ``log_offset``: each
    tenant's head and the ids of the dedupe window (``tenant -> id -> appended at``)."""

    log_offset: int
    heads: dict[str, Head]
    recent_ids: dict[str, dict[str, datetime]]


_EARLIEST, _LATEST = datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)
UNSAVED_IDS_LIMIT = 100_000  # ids kept for a checkpoint that could not be saved


@dataclass
class Unsaved:
    """What changed since the last saved checkpoint (``everything``: save the whole state)."""

    everything: bool = False
    tenants: set[str] = field(default_factory=set)
    ids: list[tuple[str, str, datetime]] = field(default_factory=list)  # (tenant, id, appended at)


@dataclass
class SequencerState:
    """Heads and recent ids of the tenants one sequencer owns."""

    dedupe_window: timedelta
    heads: dict[str, Head] = field(default_factory=dict)
    # Insertion order is append order, so eviction pops from the front.
    recent_ids: dict[str, OrderedDict[str, datetime]] = field(default_factory=dict)
    tracking: bool = False  # remember what changed for a checkpoint (only when one will take it)
    unsaved: Unsaved = field(default_factory=Unsaved)

    @classmethod
    def restore(cls, dedupe_window: timedelta, checkpoint: Checkpoint) -> SequencerState:
        """The state a checkpoint holds (tracking changes for the next one); records after it
        are then :meth:`load`-ed as usual."""
        ids = {
            tenant: OrderedDict(sorted(by_id.items(), key=lambda kv: kv[1]))
            for tenant, by_id in checkpoint.recent_ids.items()
        }
        return cls(dedupe_window, dict(checkpoint.heads), ids, tracking=True)

    def take_unsaved(self) -> Unsaved:
        """Hand over what a checkpoint must save; :meth:`keep_unsaved` gives it back if saving failed."""
        unsaved, self.unsaved = self.unsaved, Unsaved()
        if unsaved.everything:
            unsaved.tenants = set(self.heads)
            unsaved.ids = [(t, i, at) for t, ids in self.recent_ids.items() for i, at in ids.items()]
        return unsaved

    def keep_unsaved(self, unsaved: Unsaved) -> None:
        self.unsaved.everything |= unsaved.everything
        self.unsaved.tenants |= unsaved.tenants
        self.unsaved.ids[:0] = unsaved.ids
        if len(self.unsaved.ids) > UNSAVED_IDS_LIMIT:
            # A store that stays away must not grow our memory: save the whole state once it is back.
            self.unsaved = Unsaved(everything=True)

    def load(self, value: bytes | None) -> bool:
        """Take a record already in the log into account (recovery on start).

        Only the record that continues its tenant's chain counts (the next sequence, linked
        to the head's hash); anything else in the log — garbage bytes, a record written
        around the sequencer — is ignored and False returned, so recovery never fails.
        """
        record = _log_record(value)
        if record is None:
            return False
        tenant, head = record["tenantid"], self.heads.get(record["tenantid"])
        linked = record["prevhash"] == head.hash if head else record["prevhash"] == GENESIS_HASH
        if record["sequence"] != (head.sequence + 1 if head else 1) or not linked:
            return False
        appended = parse_utc(record["appendedat"])
        self.heads[tenant] = Head(record["sequence"], record["hash"], appended)
        self.recent_ids.setdefault(tenant, OrderedDict())[record["id"]] = appended
        return True

    def evict(self, now: datetime) -> None:
        cutoff = now - self.dedupe_window
        for ids in self.recent_ids.values():
            while ids and next(iter(ids.values())) < cutoff:
                ids.popitem(last=False)

    def batch(self, now: datetime, horizon: timedelta | None = None, max_future: timedelta | None = None) -> Batch:
        """A batch appending at ``now``; ``earliest``/``latest`` are the event times the
        contract's bounds (``schemas.timebounds``) accept at ``now``, computed once."""
        earliest = _shifted(now, -horizon) if horizon is not None else _EARLIEST
        latest = _shifted(now, max_future) if max_future is not None else _LATEST
        return Batch(self, now, earliest=earliest, latest=latest)


@dataclass
class Batch:
    """Decisions of one transaction; :meth:`commit` merges them into the state."""

    state: SequencerState
    now: datetime
    earliest: datetime = _EARLIEST
    latest: datetime = _LATEST
    heads: dict[str, Head] = field(default_factory=dict)
    new_ids: dict[str, dict[str, datetime]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._now_text = format_utc(self.now)  # the usual append time, formatted once per batch

    def _head(self, tenant: str) -> Head | None:
        return self.heads.get(tenant) or self.state.heads.get(tenant)

    def _seen(self, tenant: str, event_id: str) -> bool:
        return event_id in self.new_ids.get(tenant, ()) or event_id in self.state.recent_ids.get(tenant, ())

    def decide(self, valid: Valid) -> Decision:
        envelope = valid.envelope
        tenant = envelope.tenantid
        if self._seen(tenant, envelope.id):
            return Duplicate(tenant, envelope.id)
        head = self._head(tenant)
        problem = _tenant_rule(valid, head)
        if problem:
            return Reject((problem,))
        # Append times never go backwards within a tenant, whatever the clock does.
        appended = max(self.now, head.appended_at) if head else self.now
        record = valid.record
        record["sequence"] = head.sequence + 1 if head else 1
        record["appendedat"] = self._now_text if appended == self.now else format_utc(appended)
        record["prevhash"] = head.hash if head else GENESIS_HASH
        encoded = seal(record)
        self.heads[tenant] = Head(record["sequence"], record["hash"], appended)
        self.new_ids.setdefault(tenant, {})[envelope.id] = appended
        return Append(record, encoded)

    def commit(self) -> None:
        state = self.state
        state.heads.update(self.heads)
        for tenant, ids in self.new_ids.items():
            state.recent_ids.setdefault(tenant, OrderedDict()).update(ids)
        if state.tracking:
            state.unsaved.tenants.update(self.heads)
            state.unsaved.ids += [(tenant, i, at) for tenant, ids in self.new_ids.items() for i, at in ids.items()]
        state.evict(self.now)


def _shifted(now: datetime, by: timedelta) -> datetime:
    """``now + by``, clamped to the representable range (a bound of "no bound")."""
    try:
        return now + by
    except OverflowError:
        return _LATEST if by > timedelta(0) else _EARLIEST


def _tenant_rule(valid: Valid, head: Head | None) -> Problem | None:
    """A tenant's history starts with its ``tenant.created``, and only once."""
    tenant = valid.envelope.tenantid
    if isinstance(valid.data, TenantCreated):
        if valid.data.tenant_id != tenant:
            return Problem("data.tenant_id", "tenant_mismatch", f"must equal tenantid {tenant!r}")
        if head is not None:
            return Problem("tenantid", "tenant_exists", f"tenant {tenant!r} already exists")
        return None
    if head is None:
        return Problem(
            "tenantid",
            "unknown_tenant",
            f"tenant {tenant!r} does not exist; a platform admin must create it (tenant.created) first",
        )
    return None
