"""A fleet of pipeline processes on one box: N sequencers, N projection instances and an API
with N workers, on topics and a database of the caller's own. Shared by the scale-out test
(`tests/integration/test_scale_out.py`) and its benchmark (`bench/bench_scaleout.py`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg

from api.auth import mint_token
from bench.common import free_port
from schemas.envelope import BATCH_CONTENT_TYPE
from skillmind.settings import Settings

BATCH = 500  # events per POST /v1/events


class Fleet:
    """The processes of a run, started with the given settings; their logs go to one file."""

    def __init__(self, settings: Settings, log_path: Path) -> None:
        self.env = {
            **os.environ,
            "SKILLMIND_KAFKA__TOPIC_PREFIX": settings.kafka.topic_prefix,
            "SKILLMIND_KAFKA__PARTITIONS": str(settings.kafka.partitions),
            "SKILLMIND_POSTGRES__DBNAME": settings.postgres.dbname,
        }
        self.log_path = log_path
        self.log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, *args: str) -> None:
        command = [sys.executable, "-m", "skillmind.cli", "--json-logs", *args]
        self.processes[name] = subprocess.Popen(command, env=self.env, stdout=self.log, stderr=self.log)

    def start_component(self, component: str, instance: str) -> None:
        """``skillmind run <component> --instance scale-<instance>`` named ``<component>-<instance>``."""
        self.start(f"{component}-{instance}", "run", component, "--instance", f"scale-{instance}")

    def kill(self, name: str) -> None:
        self.processes[name].send_signal(signal.SIGKILL)
        self.processes[name].wait()

    def stop(self) -> None:
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            process.wait(60)
        self.log.close()


def api_workers(server_pid: int) -> list[int]:
    """The uvicorn worker processes of ``skillmind serve --workers N``."""
    children = Path(f"/proc/{server_pid}/task/{server_pid}/children").read_text().split()
    # multiprocessing's spawned workers, not its resource tracker
    return [int(pid) for pid in children if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]


def _up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def fleet(settings: Settings, log_path: Path, instances: Sequence[str] = ("a", "b")) -> Iterator[tuple[Fleet, str]]:
    """Start one sequencer and one projection instance per name in ``instances`` and an API
    with as many workers; yield the fleet and the API's base URL once every worker answers.

    Raises AssertionError naming the log file when the API does not come up within 60 s.
    """
    processes = Fleet(settings, log_path)
    port = free_port()
    try:
        for instance in instances:
            processes.start_component("sequencer", instance)
            processes.start_component("projections", instance)
        processes.start("api", "serve", "--port", str(port), "--workers", str(len(instances)))
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        # One worker runs inside the server process; several are its spawned children.
        spawned = len(instances) if len(instances) > 1 else 0
        while len(api_workers(processes.processes["api"].pid)) < spawned or not _up(url):
            assert time.monotonic() < deadline, f"the API did not come up; see {log_path}"
            time.sleep(0.2)
        yield processes, url
    finally:
        processes.stop()


def post_all(url: str, settings: Settings, events: list[dict[str, Any]], posted: list[int]) -> None:
    """POST every batch until it is answered 202 (a killed worker's batch is sent again: the
    event ids dedupe); ``posted[0]`` counts the batches answered so far."""
    token = mint_token(settings.api, tenant="t0", user="root", roles=["platform_admin"])
    headers = {"Authorization": f"Bearer {token}", "Content-Type": BATCH_CONTENT_TYPE}
    with httpx.Client(timeout=60) as client:
        for start in range(0, len(events), BATCH):
            while True:
                try:
                    response = client.post(f"{url}/v1/events", headers=headers, json=events[start : start + BATCH])
                    if response.status_code == 202:
                        break
                except httpx.HTTPError:
                    pass  # the worker died under the request: send the batch again
                time.sleep(0.2)
            posted[0] += 1


def applied(settings: Settings) -> int:
    """Records the read models hold, summed over tenants (each tenant's applied sequence)."""
    with psycopg.connect(settings.postgres.conninfo()) as conn:
        if conn.execute("select to_regclass('readmodel.tenant_positions')").fetchone()[0] is None:
            return 0
        return int(conn.execute("select coalesce(sum(sequence), 0) from readmodel.tenant_positions").fetchone()[0])


def quarantined(settings: Settings) -> dict[str, list[Any]]:
    """rule -> [count, then the first 3 (partition, offset, tenant, sequence, reason)]."""
    with psycopg.connect(settings.postgres.conninfo()) as conn:
        rows = conn.execute(
            "select rule, log_partition, log_offset, tenant_id, sequence, reason from readmodel.quarantine "
            "order by log_partition, log_offset"
        ).fetchall()
    found: dict[str, list[Any]] = {}
    for rule, *where in rows:
        found.setdefault(rule, []).append(tuple(where))
    return {rule: [len(rows), *rows[:3]] for rule, rows in found.items()}
