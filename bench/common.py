"""Helpers shared by the benchmarks: isolated topics, timing, and report lines."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from events.topics import bootstrap_topics
from skillmind.settings import Settings, load_settings


def isolated_settings(partitions: int = 6) -> Settings:
    """The configured services, with topics of the benchmark's own (a fresh prefix)."""
    base = load_settings()
    kafka = base.kafka.model_copy(update={"topic_prefix": f"bench-{uuid.uuid4().hex[:8]}", "partitions": partitions})
    settings = base.model_copy(update={"kafka": kafka})
    bootstrap_topics(settings.kafka)
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
