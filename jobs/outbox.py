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
from typing import Any

import psycopg
import structlog
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from schemas.validation import scrub
from skillmind.settings import Settings

log = structlog.get_logger(__name__)

# Seconds before attempt n+1 (n = attempts so far); then the last one repeats. Jitter: ±20 %.
RETRY_SCHEDULE_S = (5, 30, 120, 600, 1800, 3600, 7200, 14400, 28800)


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


def retry_delay(attempts: int, rng: random.Random | None = None) -> timedelta:
    """Back-off before the next attempt, after ``attempts`` failed ones (≥ 1)."""
    base = RETRY_SCHEDULE_S[min(attempts, len(RETRY_SCHEDULE_S)) - 1]
    return timedelta(seconds=base * (rng or random).uniform(0.8, 1.2))


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
        dead = permanent or attempts >= self.settings.outbox.max_attempts
        delay = retry_delay(attempts, self.rng)
        self.conn.execute(
            "update outbox set attempts = %s, last_error = %s, last_status = %s, state = %s, "
            "next_attempt_at = now() + %s where id = %s",
            [attempts, scrub(reason, 1000), status, "dead" if dead else "pending", delay, row["id"]],
        )
        log.warning("outbox.failed", kind=row["kind"], key=row["key"], attempts=attempts, dead=dead, reason=reason)
        if dead and row["kind"] in self.on_dead:
            self.on_dead[row["kind"]](payload)
