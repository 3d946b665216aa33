"""One settings tree, read from the environment (prefix ``SKILLMIND_``, nested with ``__``).

Nothing here connects to anything. Build the tree once with :func:`load_settings`
at start-up and pass the relevant branch down to each adapter.

Examples: ``SKILLMIND_KAFKA__BOOTSTRAP_SERVERS=broker:9092``,
``SKILLMIND_POSTGRES__PORT=5432``, ``SKILLMIND_STATE_DIR=/srv/skillmind``.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_state_dir() -> Path:
    # PostgreSQL refuses to run as root, so as root the cluster runs as the
    # `postgres` user, which cannot traverse /root: keep state under /var/lib then.
    if os.geteuid() == 0:
        return Path("/var/lib/skillmind")
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "skillmind"


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "skillmind"


class KafkaSettings(BaseModel):
    bootstrap_servers: str = "127.0.0.1:19092"
    partitions: int = Field(6, ge=1, description="Partitions of every log topic.")
    replication_factor: int = Field(1, ge=1)
    topic_prefix: str = Field("skillmind", description="Topics are named <prefix>.<name>.v<N>; tests use their own.")


class PostgresSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 15432
    user: str = "skillmind"
    password: SecretStr = SecretStr("skillmind")
    dbname: str = "skillmind"

    def conninfo(self, dbname: str | None = None) -> str:
        """libpq connection string; ``dbname`` overrides the configured database."""
        return (
            f"host={self.host} port={self.port} user={self.user} "
            f"password={self.password.get_secret_value()} dbname={dbname or self.dbname}"
        )


class S3Settings(BaseModel):
    endpoint: str = "127.0.0.1:17070"
    access_key: str = "skillmind"
    secret_key: SecretStr = SecretStr("skillmind-secret-key")
    region: str = "us-east-1"
    secure: bool = False
    exports_bucket: str = "skillmind-exports"
    archive_bucket: str = "skillmind-archive"


class SmtpSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8025
    sender: str = "SkillMind Analytics <no-reply@skillmind.local>"


class ApiSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8000
    jwt_secret: SecretStr = SecretStr("local-only-hs256-secret-change-me-in-production")
    jwks_url: str | None = None
    max_body_bytes: int = Field(5_000_000, ge=1024, description="Largest ingest body accepted.")
    max_batch_events: int = Field(1000, ge=1, description="Most events in one ingest batch.")
    read_your_writes_timeout_s: float = Field(
        10.0, gt=0, le=60, description="How long a read with min_position (or a write with wait) waits."
    )


class ContractSettings(BaseModel):
    """Bounds of the contract that depend on the clock (``schemas.timebounds``)."""

    max_future_skew_s: float = Field(
        300, ge=0, le=86_400, description="An event's `time` may be at most this far after now (clock skew)."
    )
    horizon_days: int = Field(
        366, ge=1, le=36_500, description="An event's `time` may be at most this many days before now."
    )

    @property
    def max_future(self) -> timedelta:
        return timedelta(seconds=self.max_future_skew_s)

    @property
    def horizon(self) -> timedelta:
        return timedelta(days=self.horizon_days)


class SchedulerSettings(BaseModel):
    recompute_hour: int = Field(2, ge=0, le=23, description="UTC hour of the nightly recompute tick.")
    recompute_minute: int = Field(15, ge=0, le=59)
    catch_up_days: int = Field(7, ge=1, le=90, description="Missed days appended on start, at most.")


class LocalServicesSettings(BaseModel):
    """How `skillmind services` runs Kafka, PostgreSQL and the S3 server without Docker."""

    kafka_version: str = "4.1.1"
    kafka_controller_port: int = 19093
    kafka_heap: str = "-Xms512m -Xmx1g"
    java_home: Path | None = Field(
        None, description="JDK 17+ to run Kafka with; default: JAVA_HOME, then 17 under /usr/lib/jvm."
    )
    postgres_bin_dir: Path | None = Field(
        None, description="Directory of initdb/pg_ctl; default: newest /usr/lib/postgresql/*/bin."
    )
    versitygw_version: str = "v1.7.0"
    startup_timeout_s: float = 90.0


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SKILLMIND_", env_nested_delimiter="__", extra="ignore")

    env: str = Field("local", description="'production' switches logs to JSON unconditionally.")
    log_level: str = "INFO"
    state_dir: Path = Field(default_factory=_default_state_dir)
    cache_dir: Path = Field(default_factory=_default_cache_dir)
    kafka: KafkaSettings = KafkaSettings()
    postgres: PostgresSettings = PostgresSettings()
    s3: S3Settings = S3Settings()
    smtp: SmtpSettings = SmtpSettings()
    api: ApiSettings = ApiSettings()
    contract: ContractSettings = ContractSettings()
    scheduler: SchedulerSettings = SchedulerSettings()
    services: LocalServicesSettings = LocalServicesSettings()


def load_settings(**overrides: object) -> Settings:
    """Read the environment once; keyword overrides win (used by tests and the CLI)."""
    return Settings(**overrides)  # type: ignore[arg-type]
