"""A PostgreSQL cluster of our own (own port, own data directory) from Debian's packages."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
from pathlib import Path

import psycopg
import structlog
from psycopg import sql

from skillmind.services.base import Launch, LocalService
from skillmind.services.process import PrerequisiteMissing, ServiceError, split_address

log = structlog.get_logger(__name__)

INSTALL_HINT = (
    "install PostgreSQL's server (apt-get install -y postgresql) or set SKILLMIND_SERVICES__POSTGRES_BIN_DIR."
)


def find_bin_dir(configured: Path | None) -> Path:
    if configured:
        if (configured / "initdb").exists():
            return configured
        raise PrerequisiteMissing(f"no initdb in {configured}: {INSTALL_HINT}")
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if versions:
        return versions[-1].parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    raise PrerequisiteMissing(f"PostgreSQL's `initdb` was not found: {INSTALL_HINT}")


class Postgres(LocalService):
    name = "postgres"
    stop_signal = signal.SIGINT  # "fast" shutdown; SIGTERM would wait for every client

    @property
    def address(self) -> str:
        pg = self.settings.postgres
        return f"{pg.host}:{pg.port}"

    @property
    def port_setting_hint(self) -> str:
        return "SKILLMIND_POSTGRES__PORT"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def run_as(self) -> str | None:
        """PostgreSQL refuses to run as root; then run it as the `postgres` system user."""
        if os.geteuid() != 0:
            return None
        try:
            pwd.getpwnam("postgres")
        except KeyError as err:
            raise PrerequisiteMissing(f"running as root needs the `postgres` system user: {INSTALL_HINT}") from err
        return "postgres"

    def _own(self, path: Path) -> None:
        if self.run_as:
            shutil.chown(path, self.run_as, self.run_as)

    def install(self) -> None:
        find_bin_dir(self.settings.services.postgres_bin_dir)

    def _drop_stale_lock(self) -> None:
        """Remove a ``postmaster.pid`` left by a server that is gone.

        ``prepare`` only runs when our pid file says the server is not running and its port is
        free. A lock file restored from a disk snapshot can name a pid that another program
        now has, and PostgreSQL then refuses to start ("lock file already exists"); the file
        is stale unless that pid is a running postgres.
        """
        lock = self.data_dir / "postmaster.pid"
        try:
            pid = int(lock.read_text().split()[0])
        except (FileNotFoundError, ValueError, IndexError):
            return
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            cmdline = b""
        if b"postgres" not in cmdline:
            lock.unlink(missing_ok=True)
            log.info("service.stale_lock_removed", service=self.name, path=str(lock), pid=pid)

    def prepare(self) -> None:
        self.home.chmod(0o755)
        for path in (self.home, self.ensure_dir(self.home / "run")):
            self._own(path)
        if (self.data_dir / "PG_VERSION").exists():
            self._drop_stale_lock()
            return
        bin_dir = find_bin_dir(self.settings.services.postgres_bin_dir)
        pwfile = self.home / ".initdb-password"
        pwfile.write_text(self.settings.postgres.password.get_secret_value())
        pwfile.chmod(0o600)
        self._own(pwfile)
        try:
            result = subprocess.run(
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    self.settings.postgres.user,
                    f"--pwfile={pwfile}",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C",
                ],
                capture_output=True,
                text=True,
                user=self.run_as,
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            raise ServiceError(f"initdb failed; remove {self.data_dir} to start afresh:\n{result.stderr[-2000:]}")

    def launch(self) -> Launch:
        bin_dir = find_bin_dir(self.settings.services.postgres_bin_dir)
        host, port = split_address(self.address)
        return Launch(
            argv=[
                str(bin_dir / "postgres"),
                "-D",
                str(self.data_dir),
                "-p",
                str(port),
                "-k",
                str(self.home / "run"),
                "-c",
                f"listen_addresses={host}",
                # A dev/test cluster on 2 cores: durable commits, modest memory.
                "-c",
                "max_connections=200",
                "-c",
                "shared_buffers=256MB",
            ],
            env={},
            user=self.run_as,
        )

    def _connect(self, dbname: str) -> psycopg.Connection:
        return psycopg.connect(self.settings.postgres.conninfo(dbname), connect_timeout=2, autocommit=True)

    def probe(self) -> str | None:
        try:
            with self._connect("postgres") as conn:
                conn.execute("select 1")
        except psycopg.Error as err:
            return f"cannot connect: {str(err).strip().splitlines()[0]}"
        return None

    def after_start(self) -> None:
        dbname = self.settings.postgres.dbname
        with self._connect("postgres") as conn:
            exists = conn.execute("select 1 from pg_database where datname = %s", [dbname]).fetchone()
            if not exists:
                conn.execute(sql.SQL("create database {}").format(sql.Identifier(dbname)))
