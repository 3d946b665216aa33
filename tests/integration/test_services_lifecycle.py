"""`skillmind services` against a second, private set of real services
(own state directory, own ports), so killing them disturbs no other test.

Data written before a kill must be there after the restart: Kafka records for
every service (the broker outlives a database or S3 crash), and for Mailpit its
mails and its memory of their Message-IDs (the fan-out's duplicate guard)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer

from bench.common import free_port
from events.topics import TopicSpec, bootstrap_topics
from jobs.mailer import send_email
from skillmind.services.process import PidFile
from skillmind.settings import Settings, load_settings
from tests.integration import mailbox

SKILLMIND = [sys.executable, "-m", "skillmind.cli"]
SERVICES = ["postgres", "s3", "kafka", "mailpit"]  # start-up order, as `services status` lists them


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SKILLMIND, *args], env=env, capture_output=True, text=True, timeout=240)


@pytest.fixture(scope="module")
def private_stack() -> Iterator[tuple[dict[str, str], Settings]]:
    # Under /var/tmp, not pytest's 0700 tmp: PostgreSQL runs as another user when we are root.
    state = Path(tempfile.mkdtemp(prefix="skillmind-lifecycle-", dir="/var/tmp"))
    state.chmod(0o755)
    env = {
        **os.environ,
        "SKILLMIND_STATE_DIR": str(state),
        "SKILLMIND_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
        "SKILLMIND_SERVICES__KAFKA_CONTROLLER_PORT": str(free_port()),
        "SKILLMIND_POSTGRES__PORT": str(free_port()),
        "SKILLMIND_S3__ENDPOINT": f"127.0.0.1:{free_port()}",
        "SKILLMIND_SMTP__PORT": str(free_port()),
        "SKILLMIND_SMTP__MAILPIT_HTTP_PORT": str(free_port()),
        "SKILLMIND_SERVICES__KAFKA_HEAP": "-Xms128m -Xmx512m",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    settings = load_settings()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key)
        else:
            os.environ[key] = value
    try:
        up = _cli(env, "services", "up")
        assert up.returncode == 0, up.stderr
        yield env, settings
    finally:
        _cli(env, "services", "down")
        shutil.rmtree(state, ignore_errors=True)


def _pid(settings: Settings, name: str) -> int:
    pid = PidFile(settings.state_dir / name / f"{name}.pid").read()
    assert pid is not None, f"no pid file for {name}"
    return pid


def _wait_dead(pid: int) -> None:
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.1)


def test_status_reports_every_service_healthy(private_stack: tuple[dict[str, str], Settings]) -> None:
    env, settings = private_stack
    status = _cli(env, "services", "status")
    assert status.returncode == 0, status.stdout + status.stderr
    lines = status.stdout.splitlines()
    assert [line.split()[0] for line in lines] == SERVICES
    assert all(line.endswith("healthy") for line in lines)
    assert settings.kafka.bootstrap_servers in status.stdout


def test_up_twice_reuses_what_runs(private_stack: tuple[dict[str, str], Settings]) -> None:
    env, settings = private_stack
    before = {n: _pid(settings, n) for n in SERVICES}
    again = _cli(env, "services", "up")
    assert again.returncode == 0, again.stderr
    assert {n: _pid(settings, n) for n in before} == before


@pytest.mark.parametrize("victim", ["kafka", "postgres", "s3"])
def test_killed_service_is_reported_then_restarted(private_stack: tuple[dict[str, str], Settings], victim: str) -> None:
    env, settings = private_stack
    topic = f"lifecycle-{uuid.uuid4().hex[:8]}"
    bootstrap_topics(settings.kafka, [TopicSpec(topic, 1, 1)])
    producer = Producer(
        {"bootstrap.servers": settings.kafka.bootstrap_servers, "enable.idempotence": True, "acks": "all"}
    )
    for n in range(50):
        producer.produce(topic, value=str(n).encode())
    assert producer.flush(30) == 0

    _kill_then_restart(env, settings, victim)

    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka.bootstrap_servers,
            "group.id": uuid.uuid4().hex,
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    seen: list[int] = []
    deadline = time.monotonic() + 30
    while len(seen) < 50 and time.monotonic() < deadline:
        seen += [int(m.value()) for m in consumer.consume(100, timeout=1) if m.error() is None]
    consumer.close()
    assert seen == list(range(50)), "records written before the kill must survive the restart"


def test_killed_mailpit_keeps_its_mail_and_its_duplicate_guard(
    private_stack: tuple[dict[str, str], Settings],
) -> None:
    env, settings = private_stack
    to, event_id = mailbox.unique_address(), str(uuid.uuid4())
    send_email(settings.smtp, message_id=event_id, to=to, subject="before the kill", text="t")
    assert len(mailbox.wait_for(settings.smtp, to, 1)) == 1

    _kill_then_restart(env, settings, "mailpit")

    send_email(settings.smtp, message_id=event_id, to=to, subject="resent after the restart", text="t")
    send_email(settings.smtp, message_id=str(uuid.uuid4()), to=to, subject="new after the restart", text="t")
    found = mailbox.wait_for(settings.smtp, to, 2)
    assert sorted(m["Subject"] for m in found) == ["before the kill", "new after the restart"]


def _kill_then_restart(env: dict[str, str], settings: Settings, victim: str) -> None:
    """SIGKILL the service: `status` names it unhealthy; `up` brings it back healthy."""
    pid = _pid(settings, victim)
    os.kill(pid, signal.SIGKILL)
    _wait_dead(pid)

    status = _cli(env, "services", "status")
    assert status.returncode != 0
    assert f"unhealthy: {victim}" in status.stderr
    (line,) = [ln for ln in status.stdout.splitlines() if ln.startswith(victim)]
    assert "UNHEALTHY" in line

    up = _cli(env, "services", "up")
    assert up.returncode == 0, up.stderr
    assert _cli(env, "services", "status").returncode == 0


def test_taken_mailpit_http_port_names_its_setting(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        env = {
            **os.environ,
            "SKILLMIND_STATE_DIR": str(tmp_path),
            "SKILLMIND_SMTP__PORT": str(free_port()),
            "SKILLMIND_SMTP__MAILPIT_HTTP_PORT": str(port),
        }
        result = _cli(env, "services", "up", "mailpit")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"127.0.0.1:{port} is already in use" in result.stderr
    assert "SKILLMIND_SMTP__MAILPIT_HTTP_PORT" in result.stderr


def test_taken_port_is_one_clear_sentence(services_up: Settings, tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        env = {
            **os.environ,
            "SKILLMIND_STATE_DIR": str(tmp_path),
            "SKILLMIND_S3__ENDPOINT": f"127.0.0.1:{port}",
        }
        result = _cli(env, "services", "up", "s3")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"127.0.0.1:{port} is already in use" in result.stderr
    assert "SKILLMIND_S3__ENDPOINT" in result.stderr


def test_missing_prerequisite_is_one_clear_sentence(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "SKILLMIND_STATE_DIR": str(tmp_path),
        "SKILLMIND_SERVICES__POSTGRES_BIN_DIR": str(tmp_path / "nowhere"),
        "SKILLMIND_POSTGRES__PORT": str(free_port()),
    }
    result = _cli(env, "services", "up", "postgres")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "apt-get install -y postgresql" in result.stderr


def test_missing_maven_is_one_clear_sentence(tmp_path: Path) -> None:
    # An empty jar cache forces a download, and a PATH without mvn cannot do it.
    env = {
        **os.environ,
        "SKILLMIND_STATE_DIR": str(tmp_path),
        "SKILLMIND_CACHE_DIR": str(tmp_path),
        "PATH": "/nonexistent",
        "SKILLMIND_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
    }
    result = _cli(env, "services", "up", "kafka")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "`mvn` was not found: install Maven" in result.stderr
