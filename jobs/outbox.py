"""The outbox: effects that leave the system, written in a worker's transaction and carried
out after it, with retries and back-off — at least once, idempotent by their key.

``enqueue`` is called by a log worker's handler inside its transaction; the row becomes
visible when that transaction commits. The ``Dispatcher`` claims due rows (``for update
skip locked``, so several dispatchers share the work) by pushing their next attempt a
lease ahead, commits the claim, runs the effect, then records the outcome:

- ``done`` — the effect returned;
- a :class:`RetryableError` — ``attempts + 1`` and the next attempt after
  ``retry_delay(attempts)`` (exponential back-off with jitter), ``dead`` after
  ``outbox.max_attempts``;
- a :class:`PermanentError` — ``dead`` at once.

A dispatcher that dies mid-effect leaves its claim to expire after the lease; the effect
then runs again, so every effect must be idempotent by its ``key`` (the export id, the
e-mail Message-ID, the webhook-id, the appended event's id).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

import psycopg
import structlog
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from schemas.validation import scrub
from skillmind.settings import Settings

log = structlog.get_logger(__name__)

# Delay before attempt n+1 after attempt n failed (n = 1 is the first send): roughly
# ×3 to ×6 at first, then doubling, capped at 8 h. Nominal total 23 h 42 min 35 s, so
# the last attempt comes about a day after the first — when a failing endpoint is
# disabled (issue 10). Each delay varies by ±JITTER so retries of many deliveries to
# one endpoint that failed together do not arrive together.
RETRY_SCHEDULE: tuple[timedelta, ...] = (
    timedelta(seconds=5),
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(minutes=30),
    timedelta(hours=1),
    timedelta(hours=2),
    timedelta(hours=4),
    timedelta(hours=8),
    timedelta(hours=8),
)
MAX_ATTEMPTS = len(RETRY_SCHEDULE) + 1  # the first send and one retry per scheduled delay
JITTER = 0.2


class RetryableError(Exception):
    """The effect failed for now (network, 5xx, 429, timeout): try again later."""

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.status = status


class PermanentError(Exception):
    """The effect can never succeed (4xx other than 408/429, a refused address): give up."""

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.status = status


Effect = Callable[[Mapping[str, Any]], None]
OnDead = Callable[[Mapping[str, Any]], None]


class Random(Protocol):
    """What ``retry_delay`` needs of a random source (``random.Random`` has it)."""

    def random(self) -> float: ...


def retry_delay(attempt: int, rng: Random) -> timedelta:
    """How long to wait after failed attempt number ``attempt`` (1 = the first send).

    ``RETRY_SCHEDULE[attempt - 1]`` scaled by a factor uniform in [1 − JITTER, 1 + JITTER)
    drawn from ``rng``. ValueError unless 1 ≤ attempt < MAX_ATTEMPTS: after attempt
    MAX_ATTEMPTS the delivery is dead, there is no next one.
    """
    if not 1 <= attempt < MAX_ATTEMPTS:
        raise ValueError(f"attempt must be in 1..{MAX_ATTEMPTS - 1} ({MAX_ATTEMPTS} is the last one), got {attempt}")
    factor = 1 - JITTER + 2 * JITTER * rng.random()
    return RETRY_SCHEDULE[attempt - 1] * factor


def enqueue(
    cur: psycopg.Cursor,
    kind: str,
    key: str,
    payload: Mapping[str, Any],
    *,
    tenant: str | None = None,
    recipient: str | None = None,
) -> None:
    """Queue an effect in the caller's transaction; a second enqueue of (kind, key) is a no-op."""
    cur.execute(
        "insert into outbox (kind, key, tenant_id, recipient, payload) values (%s, %s, %s, %s, %s) "
        "on conflict (kind, key) do nothing",
        [kind, key, tenant, recipient, Jsonb(dict(payload))],
    )


@dataclass
class Dispatcher:
    """Carries out the due effects of ``effects``' kinds until ``stop`` is set."""

    settings: Settings
    effects: dict[str, Effect]
    on_dead: dict[str, OnDead] = field(default_factory=dict)
    database: str | None = None
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        self.conn = psycopg.connect(self.settings.postgres.conninfo(self.database), autocommit=True)

    def run(self, stop: threading.Event, on_round: Callable[[], None] | None = None) -> None:
        try:
            while not stop.is_set():
                done = self.run_once()
                if done and on_round:
                    on_round()
                if not done:
                    stop.wait(0.2)
        finally:
            self.conn.close()

    def run_once(self) -> int:
        """Claim and carry out one round of due effects; returns how many were attempted."""
        claimed = self._claim()
        for row in claimed:
            self._attempt(row)
        return len(claimed)

    def _claim(self) -> list[dict[str, Any]]:
        outbox = self.settings.outbox
        with self.conn.transaction(), self.conn.cursor(row_factory=dict_row) as cur:
            return cur.execute(
                "update outbox set next_attempt_at = now() + make_interval(secs => %s) where id in ("
                "  select id from outbox where state = 'pending' and kind = any(%s) and next_attempt_at <= now() "
                "  order by next_attempt_at limit %s for update skip locked) "
                "returning id, kind, key, tenant_id, recipient, payload, attempts",
                [outbox.lease_s, list(self.effects), outbox.batch],
            ).fetchall()

    def _attempt(self, row: dict[str, Any]) -> None:
        payload = {**row["payload"], "_key": row["key"], "_tenant": row["tenant_id"], "_recipient": row["recipient"]}
        try:
            self.effects[row["kind"]](payload)
        except RetryableError as err:
            self._failed(row, payload, str(err), err.status, permanent=False)
            return
        except PermanentError as err:
            self._failed(row, payload, str(err), err.status, permanent=True)
            return
        except Exception as err:  # a bug or an outage in the effect: it must not stop the others
            log.exception("outbox.effect_raised", kind=row["kind"], key=row["key"])
            self._failed(row, payload, f"{type(err).__name__}: {err}", None, permanent=False)
            return
        self.conn.execute(
            "update outbox set state = 'done', done_at = now(), attempts = attempts + 1, last_error = null "
            "where id = %s",
            [row["id"]],
        )
        log.info("outbox.done", kind=row["kind"], key=row["key"])

    def _failed(
        self, row: dict[str, Any], payload: Mapping[str, Any], reason: str, status: int | None, *, permanent: bool
    ) -> None:
        attempts = row["attempts"] + 1
        dead = permanent or attempts >= min(self.settings.outbox.max_attempts, MAX_ATTEMPTS)
        delay = timedelta(0) if dead else retry_delay(attempts, self.rng)
        self.conn.execute(
            "update outbox set attempts = %s, last_error = %s, last_status = %s, state = %s, "
            "next_attempt_at = now() + %s where id = %s",
            [attempts, scrub(reason, 1000), status, "dead" if dead else "pending", delay, row["id"]],
        )
        log.warning("outbox.failed", kind=row["kind"], key=row["key"], attempts=attempts, dead=dead, reason=reason)
        if dead and row["kind"] in self.on_dead:
            self.on_dead[row["kind"]](payload)
