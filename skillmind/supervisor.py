"""Run stream-processing components in one process, restart what fails, report each one.

Each component (sequencer, projections, scheduler) runs in a thread. One that raises is
restarted after a back-off (1 s, doubling, at most ``max_backoff_s``; reset after a
minute of health) — never left dead while the process looks alive. Every few seconds the
supervisor writes each component's state, restart count, last error and last progress
to ``component_status`` in PostgreSQL; readiness (``skillmind.readiness``) reads it, so
a process that died (no heartbeat), a component that is restarting, and one that has
work but makes no progress are all named by ``GET /readyz`` and ``skillmind health``.
"""

from __future__ import annotations

import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
import structlog

from schemas.validation import scrub
from skillmind.settings import Settings

log = structlog.get_logger(__name__)

Progress = Callable[[], None]
Component = Callable[[Settings, str, threading.Event, Progress], None]


def _sequencer(settings: Settings, instance: str, stop: threading.Event, progress: Progress) -> None:
    from events.sequencer import Sequencer, SequencerConfig

    config = SequencerConfig(
        settings.kafka, instance_id=instance, contract=settings.contract, postgres=settings.postgres
    )
    counters = Sequencer(config).run(stop, on_batch=progress)
    log.info("sequencer.stopped", **vars(counters))


def _projections(settings: Settings, instance: str, stop: threading.Event, progress: Progress) -> None:
    from projections.live import LiveProjections

    counters = LiveProjections(settings, instance_id=instance, on_batch=progress).run(stop)
    log.info("projections.stopped", **vars(counters))


def _scheduler(settings: Settings, instance: str, stop: threading.Event, progress: Progress) -> None:
    from jobs.scheduler import run_scheduler

    run_scheduler(settings, stop, on_tick=progress)


def _worker_pair(build_worker: Callable[..., Any], build_dispatcher: Callable[..., Any]) -> Component:
    """A log worker and its outbox dispatcher as one component: both run, or neither."""

    def run(settings: Settings, instance: str, stop: threading.Event, progress: Progress) -> None:
        mine = threading.Event()
        failures: list[BaseException] = []
        dispatcher = build_dispatcher(settings)

        def dispatch() -> None:
            try:
                dispatcher.run(mine, progress)
            except BaseException as err:
                failures.append(err)
                mine.set()

        thread = threading.Thread(target=dispatch, name=f"{instance}-dispatcher", daemon=True)
        thread.start()

        def follow_stop() -> None:
            stop.wait()
            mine.set()

        watcher = threading.Thread(target=follow_stop, daemon=True)
        watcher.start()
        try:
            build_worker(settings).run(mine, progress)
        finally:
            mine.set()
            thread.join(30)
        if failures:
            raise failures[0]

    return run


def _exports(settings: Settings, instance: str, stop: threading.Event, progress: Progress) -> None:
    from jobs.exports import exports_dispatcher, exports_worker

    _worker_pair(exports_worker, exports_dispatcher)(settings, instance, stop, progress)


def _notifications(settings: Settings, instance: str, stop: threading.Event, progress: Progress) -> None:
    from jobs.notify import notifications_dispatcher, notifications_worker

    _worker_pair(notifications_worker, notifications_dispatcher)(settings, instance, stop, progress)


def _archiver(settings: Settings, instance: str, stop: threading.Event, progress: Progress) -> None:
    from jobs.archiver import archiver_sealer, archiver_worker

    _worker_pair(archiver_worker, archiver_sealer)(settings, instance, stop, progress)


RUNNERS: dict[str, Component] = {
    "sequencer": _sequencer,
    "projections": _projections,
    "scheduler": _scheduler,
    "exports": _exports,
    "notifications": _notifications,
    "archiver": _archiver,
}


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class ComponentState:
    """What the supervisor knows of one component; written to ``component_status``."""

    name: str
    state: str = "starting"
    restarts: int = 0
    last_error: str | None = None
    started_at: datetime = field(default_factory=_now)
    progressed_at: datetime | None = None
    thread: threading.Thread | None = None
    failure: BaseException | None = None
    restart_at: float = 0.0  # monotonic time of the next restart, while restarting

    def progress(self) -> None:
        self.progressed_at = _now()


@dataclass
class Supervisor:
    """Runs ``names`` until ``stop`` is set; see the module docstring.

    ``RUNNERS`` may be replaced by a test to inject a failing component.
    """

    settings: Settings
    names: tuple[str, ...]
    instance: str = "0"
    stop: threading.Event = field(default_factory=threading.Event)
    beat_every_s: float = 2.0
    max_backoff_s: float = 30.0
    runners: dict[str, Component] = field(default_factory=lambda: dict(RUNNERS))
    states: dict[str, ComponentState] = field(default_factory=dict)
    _conn: psycopg.Connection | None = None

    def run(self) -> None:
        for name in self.names:
            self.states[name] = ComponentState(name)
            self._start(self.states[name])
        log.info("components.running", components=list(self.names), instance=self.instance)
        next_beat = 0.0
        while not self.stop.is_set():
            for state in self.states.values():
                self._watch(state)
            if time.monotonic() >= next_beat:
                self._beat()
                next_beat = time.monotonic() + self.beat_every_s
            self.stop.wait(0.2)
        for state in self.states.values():
            if state.thread is not None:
                state.thread.join(timeout=30)
            state.state = "stopped"
        self._beat()
        if self._conn is not None:
            self._conn.close()

    def _start(self, state: ComponentState) -> None:
        def guarded() -> None:
            try:
                self.runners[state.name](self.settings, self.instance, self.stop, state.progress)
            except BaseException as err:
                log.error("component.failed", component=state.name, error=repr(err), restarts=state.restarts)
                state.failure = err

        state.failure, state.state, state.started_at = None, "running", _now()
        state.thread = threading.Thread(target=guarded, name=state.name, daemon=True)
        state.thread.start()

    def _watch(self, state: ComponentState) -> None:
        if state.state == "restarting":
            if time.monotonic() >= state.restart_at:
                state.restarts += 1
                log.info("component.restarting", component=state.name, restarts=state.restarts)
                self._start(state)
            return
        if state.thread is None or state.thread.is_alive() or self.stop.is_set():
            return
        healthy_for = (_now() - state.started_at).total_seconds()
        backoff = 1.0 if healthy_for > 60 else min(self.max_backoff_s, 2.0 ** min(state.restarts, 10))
        err = state.failure or RuntimeError("returned without being asked to stop")
        state.last_error = scrub(f"{type(err).__name__}: {err}", 1000)
        state.state, state.restart_at = "restarting", time.monotonic() + backoff
        self._beat()  # readiness learns of the failure now, not at the next beat

    def _beat(self) -> None:
        rows = [
            (s.name, self.instance, s.state, s.restarts, s.last_error, s.started_at, s.progressed_at)
            for s in self.states.values()
        ]
        try:
            if self._conn is None or self._conn.closed:
                self._conn = psycopg.connect(self.settings.postgres.conninfo(), autocommit=True, connect_timeout=3)
            self._conn.cursor().executemany(
                "insert into component_status (component, instance, state, restarts, last_error, started_at, "
                "progressed_at, beat_at) values (%s, %s, %s, %s, %s, %s, %s, now()) "
                "on conflict (component, instance) do update set state = excluded.state, "
                "restarts = excluded.restarts, last_error = excluded.last_error, started_at = excluded.started_at, "
                "progressed_at = excluded.progressed_at, beat_at = excluded.beat_at",
                rows,
            )
        except psycopg.Error as err:  # PostgreSQL down: the components report it themselves
            log.warning("supervisor.heartbeat_failed", error=str(err), host=socket.gethostname())
            if self._conn is not None:
                self._conn.close()
            self._conn = None


def run_components(
    settings: Settings, names: tuple[str, ...], instance: str, stop: threading.Event | None = None
) -> None:
    """Supervise ``names`` until SIGINT/SIGTERM (or ``stop``)."""
    supervisor = Supervisor(settings, names, instance, stop or threading.Event())
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: supervisor.stop.set())
    supervisor.run()
