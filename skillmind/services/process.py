"""Detached processes tracked by pid files: start once, find again, stop only our own."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


class ServiceError(Exception):
    """A local service could not be installed, started or stopped.

    The message is one sentence telling the operator what to do next.
    """


class PrerequisiteMissing(ServiceError):
    """A tool the service needs (java, mvn, go, PostgreSQL) is not installed."""


class PortTaken(ServiceError):
    """Another process already listens on the address a service wants."""


def require_executable(name: str, hint: str, path: Path | None = None) -> Path:
    """Return the executable's path or raise with the install hint."""
    found = str(path) if path and path.exists() else shutil.which(name)
    if not found:
        raise PrerequisiteMissing(f"`{name}` was not found: {hint}")
    return Path(found)


def port_is_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host or "127.0.0.1", int(port)


def _identity(pid: int) -> str | None:
    """Who ``pid`` is: the boot it runs in and its start time (clock ticks since boot).

    A pid alone is not an identity: after a reboot, or on a machine restored from a disk
    snapshot, the number in an old pid file may belong to an unrelated process (CI once
    waited 90 s on a stale pid that had become some other program). ``/proc/<pid>/stat``
    field 22 (starttime) together with the kernel's boot id names one process for good.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot_id = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None
    # Fields after the command name (which may contain spaces and parentheses).
    fields = stat.rsplit(")", 1)[1].split()
    return f"{boot_id}:{fields[19]}"


@dataclass(frozen=True)
class PidFile:
    """``<pid> <boot id>:<start time>`` of a process we started.

    The file holds the identity beside the pid so that a stale file never makes us wait on,
    or signal, a process that merely reuses the number.
    """

    path: Path

    def read(self) -> int | None:
        pid, _ = self._read()
        return pid

    def _read(self) -> tuple[int | None, str | None]:
        try:
            parts = self.path.read_text().split()
            return int(parts[0]), (parts[1] if len(parts) > 1 else None)
        except (FileNotFoundError, ValueError, IndexError):
            return None, None

    def alive_pid(self) -> int | None:
        """The recorded pid if that very process still runs (not a zombie, not a reused pid)."""
        pid, identity = self._read()
        if pid is None or not _process_running(pid):
            return None
        # A file without an identity (older format) cannot prove the process is ours.
        if identity is None or _identity(pid) != identity:
            return None
        return pid

    def write(self, pid: int) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(f"{pid} {_identity(pid) or '-'}\n")

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def _process_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    return True


def spawn(
    argv: Sequence[str],
    *,
    log_path: Path,
    pid_file: PidFile,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
) -> int:
    """Start ``argv`` in its own session so it outlives the CLI; append output to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            user=user,
            start_new_session=True,
        )
    pid_file.write(proc.pid)
    return proc.pid


def wait_until(
    check: Callable[[], str | None],
    *,
    timeout_s: float,
    alive: Callable[[], bool],
    what: str,
    log_path: Path,
) -> None:
    """Poll ``check`` (None = ready, else the reason) until ready, dead, or out of time."""
    deadline = time.monotonic() + timeout_s
    reason: str | None = "not checked yet"
    while time.monotonic() < deadline:
        reason = check()
        if reason is None:
            return
        if not alive():
            raise ServiceError(f"{what} exited during start-up ({reason}); read its log: {log_path}")
        time.sleep(0.3)
    raise ServiceError(f"{what} was not ready after {timeout_s:.0f}s ({reason}); read its log: {log_path}")


def terminate(pid_file: PidFile, *, sig: signal.Signals = signal.SIGTERM, timeout_s: float = 30.0) -> bool:
    """Signal our process group (``sig``), SIGKILL after ``timeout_s``. False if nothing ran."""
    pid = pid_file.alive_pid()
    if pid is None:
        pid_file.remove()
        return False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and _process_running(pid):
        time.sleep(0.2)
    if _process_running(pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    # Reap it when it is our child (tests); otherwise init does.
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
    pid_file.remove()
    return True
