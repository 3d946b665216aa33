"""Helpers shared by the benchmarks: isolated topics, timing, and report lines."""

from __future__ import annotations

import atexit
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx

from events.topics import bootstrap_topics, delete_prefixed_topics
from skillmind.settings import Settings, load_settings


def isolated_settings(partitions: int = 6) -> Settings:
    """The configured services, with topics of the benchmark's own (a fresh prefix, deleted at exit)."""
    base = load_settings()
    kafka = base.kafka.model_copy(update={"topic_prefix": f"bench-{uuid.uuid4().hex[:8]}", "partitions": partitions})
    settings = base.model_copy(update={"kafka": kafka})
    bootstrap_topics(settings.kafka)
    atexit.register(delete_prefixed_topics, settings.kafka)
    return settings


@dataclass(frozen=True)
class Rate:
    name: str
    count: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.count / self.seconds if self.seconds else float("inf")


def timed(name: str, count: int, work: Callable[[], object]) -> Rate:
    start = time.perf_counter()
    work()
    return Rate(name, count, time.perf_counter() - start)


def report(rates: list[Rate], baseline: Rate) -> str:
    lines = [
        f"| {'measure':<44} | {'events':>8} | {'seconds':>8} | {'events/s':>10} | {'vs baseline':>11} |",
        f"|{'-' * 46}|{'-' * 10}|{'-' * 10}|{'-' * 12}|{'-' * 13}|",
    ]
    for rate in [baseline, *rates]:
        ratio = rate.per_second / baseline.per_second
        lines.append(
            f"| {rate.name:<44} | {rate.count:>8} | {rate.seconds:>8.2f} | "
            f"{rate.per_second:>10,.0f} | {ratio:>10.3f}x |"
        )
    return "\n".join(lines)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Server:
    base_url: str
    pid: int


@contextmanager
def api_server(settings: Settings, workers: int = 1, **env: str) -> Iterator[Server]:
    """`skillmind serve` on a free port, on these settings' topics and database; yields once
    /healthz answers and stops it afterwards. Used by benchmarks and by tests that need a
    real server process (memory, sockets)."""
    port = free_port()
    environment = {
        **os.environ,
        "SKILLMIND_KAFKA__TOPIC_PREFIX": settings.kafka.topic_prefix,
        "SKILLMIND_KAFKA__PARTITIONS": str(settings.kafka.partitions),
        "SKILLMIND_POSTGRES__DBNAME": settings.postgres.dbname,
        **env,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "skillmind.cli", "serve", "--port", str(port), "--workers", str(workers)],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = Server(f"http://127.0.0.1:{port}", process.pid)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{server.base_url}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("`skillmind serve` did not come up") from None
                time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        process.wait(30)


def seed_learner_days(conninfo: str, tenant: str, rows: int, day: str = "2026-11-27") -> None:
    """``rows`` learner-days straight into ``readmodel.daily_scores`` (benchmarks and memory tests)."""
    import psycopg

    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(
            "insert into readmodel.daily_scores (tenant_id, learner_id, day, cohort_id, program_id, score, "
            "signin, attendance, progress, submissions, at_risk, active_7d, completed, tick_sequence, "
            "computed_at) select %s, 'learner-' || n, %s::date, 'c' || (n %% 50), "
            "'p' || (n %% 12), n %% 101, 0.5, 0.25, null, 1, n %% 101 < 40, true, false, 1, now() "
            "from generate_series(1, %s) n",
            [tenant, day, rows],
        )
