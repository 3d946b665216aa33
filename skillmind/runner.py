"""Run stream-processing components in one process until a signal asks them to stop."""

from __future__ import annotations

import signal
import threading

import structlog

from skillmind.settings import Settings

log = structlog.get_logger(__name__)


def _sequencer(settings: Settings, instance: str, stop: threading.Event) -> None:
    from events.sequencer import Sequencer, SequencerConfig

    counters = Sequencer(SequencerConfig(settings.kafka, instance_id=instance)).run(stop)
    log.info("sequencer.stopped", **vars(counters))


def _projections(settings: Settings, instance: str, stop: threading.Event) -> None:
    from projections.live import LiveProjections

    counters = LiveProjections(settings, instance_id=instance).run(stop)
    log.info("projections.stopped", **vars(counters))


def _scheduler(settings: Settings, instance: str, stop: threading.Event) -> None:
    from jobs.scheduler import run_scheduler

    run_scheduler(settings, stop)


RUNNERS = {"sequencer": _sequencer, "projections": _projections, "scheduler": _scheduler}


def run_components(
    settings: Settings, names: tuple[str, ...], instance: str, stop: threading.Event | None = None
) -> None:
    """Start each component in a thread; the first to fail stops the others and re-raises."""
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    failures: list[BaseException] = []

    def guarded(name: str) -> None:
        try:
            RUNNERS[name](settings, instance, stop)
        except BaseException as err:
            log.error("component.failed", component=name, error=str(err))
            failures.append(err)
            stop.set()

    threads = [threading.Thread(target=guarded, args=(n,), name=n) for n in names]
    for thread in threads:
        thread.start()
    log.info("components.running", components=list(names), instance=instance)
    while any(t.is_alive() for t in threads):
        for thread in threads:
            thread.join(timeout=0.5)
    if failures:
        raise failures[0]
