"""Interpreter settings of our long-running processes (``serve``, ``run``), set at their start.

Garbage collection: with CPython's default thresholds (700, 10, 10) a process that handles
thousands of short-lived records a second collects the young generation every few records
and, every few hundred thousand allocations, walks every object it holds (the app, its
modules, the states): measured at 17% of the API process's CPU during batch ingest. Objects
of a record live for one batch; cycles among them are rare, so collecting less often costs
little memory. Measured in docs/benchmarks.md (issue 14).
"""

from __future__ import annotations

import gc

GC_THRESHOLDS = (20_000, 20, 20)


def tune_gc() -> None:
    """Collect less often (``GC_THRESHOLDS``); idempotent."""
    gc.set_threshold(*GC_THRESHOLDS)
