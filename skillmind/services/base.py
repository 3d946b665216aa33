"""What every locally supervised service shares: state folder, pid file, log, up/down/status."""

from __future__ import annotations

import signal
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import structlog

from skillmind.services.process import (
    PidFile,
    PortTaken,
    port_is_open,
    spawn,
    split_address,
    terminate,
    wait_until,
)
from skillmind.settings import Settings

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Health:
    name: str
    pid: int | None
    address: str
    problem: str | None  # None means healthy

    @property
    def healthy(self) -> bool:
        return self.problem is None

    def line(self) -> str:
        state = "healthy" if self.healthy else f"UNHEALTHY: {self.problem}"
        pid = str(self.pid) if self.pid else "-"
        return f"{self.name:<9} pid {pid:<8} {self.address:<22} {state}"


@dataclass(frozen=True)
class Launch:
    argv: Sequence[str]
    env: Mapping[str, str]
    user: str | None = None  # run as this system user (PostgreSQL refuses root)


class LocalService(ABC):
    """A real server run from the project's own scripts, tracked by a pid file."""

    name: str
    stop_signal: signal.Signals = signal.SIGTERM

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.home = settings.state_dir / self.name
        self.pid_file = PidFile(self.home / f"{self.name}.pid")
        self.log_path = self.home / f"{self.name}.log"

    @property
    @abstractmethod
    def address(self) -> str:
        """host:port clients connect to."""

    @abstractmethod
    def install(self) -> None:
        """Fetch or locate binaries; idempotent and cached outside the source tree."""

    @abstractmethod
    def prepare(self) -> None:
        """One-time initialisation of the data directory (format, initdb); idempotent."""

    @abstractmethod
    def launch(self) -> Launch:
        """The command that runs the server in the foreground."""

    @abstractmethod
    def probe(self) -> str | None:
        """None when clients can use the service, else why not."""

    def after_start(self) -> None:  # noqa: B027 - optional hook
        """Work that needs the running server (e.g. create the database)."""

    def status(self) -> Health:
        pid = self.pid_file.alive_pid()
        if pid is None:
            return Health(self.name, None, self.address, "not running (start it: skillmind services up)")
        return Health(self.name, pid, self.address, self.probe())

    def up(self) -> Health:
        """Start the service unless it already runs; wait until it is usable."""
        self.home.mkdir(parents=True, exist_ok=True)
        pid = self.pid_file.alive_pid()
        if pid is None:
            self.check_ports_free()
            self.install()
            self.prepare()
            launch = self.launch()
            pid = spawn(
                launch.argv,
                log_path=self.log_path,
                pid_file=self.pid_file,
                env=launch.env,
                user=launch.user,
            )
            log.info("service.started", service=self.name, pid=pid, address=self.address)
        wait_until(
            self.probe,
            timeout_s=self.settings.services.startup_timeout_s,
            alive=lambda: self.pid_file.alive_pid() is not None,
            what=self.name,
            log_path=self.log_path,
        )
        self.after_start()
        return self.status()

    @property
    def listen_addresses(self) -> tuple[str, ...]:
        """Every host:port the server binds (checked free before start); default: ``address``."""
        return (self.address,)

    def check_ports_free(self) -> None:
        """Raise PortTaken, naming the setting to change, when a port we bind is already in use."""
        for address in self.listen_addresses:
            if port_is_open(*split_address(address)):
                raise PortTaken(
                    f"{address} is already in use by a process we did not start; stop it "
                    f"or point {self.name} elsewhere ({self.port_setting_hint})."
                )

    def down(self) -> bool:
        stopped = terminate(self.pid_file, sig=self.stop_signal)
        if stopped:
            log.info("service.stopped", service=self.name)
        return stopped

    @property
    def port_setting_hint(self) -> str:
        return "see README, section Settings"

    def ensure_dir(self, path: Path) -> Path:
        path.mkdir(parents=True, exist_ok=True)
        return path
