"""One settings tree, read from the environment (prefix ``SKILLMIND_``, nested with ``__``).

Nothing here connects to anything. Build the tree once with :func:`load_settings`
at start-up and pass the relevant branch down to each adapter.

Examples: ``SKILLMIND_KAFKA__BOOTSTRAP_SERVERS=broker:9092``,
``SKILLMIND_POSTGRES__PORT=5432``, ``SKILLMIND_STATE_DIR=/srv/skillmind``.
"""

from __future__ import annotations

import base64
import os
from datetime import timedelta
from pathlib import Path

from psycopg.conninfo import make_conninfo
from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
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


DEFAULT_JWT_SECRET = "local-only-hs256-secret-change-me-in-production"
DEFAULT_POSTGRES_PASSWORD = "skillmind"
DEFAULT_S3_SECRET_KEY = "skillmind-secret-key"
# An Ed25519 seed for local runs and tests only (base64 of SHA-256("skillmind-local-only-audit-key")):
# anything it signs proves nothing, and production refuses to start with it.
DEFAULT_AUDIT_SIGNING_KEY = "cEHr33bAUZ1NcYOt+SwOUNQO8eQ0i3sETj0dMrdtHmg="
# A key-encryption key for local runs and tests only (base64 of SHA-256("skillmind-local-only-kek")):
# it protects nothing, and production refuses to start with it.
DEFAULT_KEK = "82VpUo/ekyunlmGYeF+BZEBf2witZfgCevoIJevjabM="


class KafkaSettings(BaseModel):
    bootstrap_servers: str = "127.0.0.1:19092"
    partitions: int = Field(6, ge=1, description="Partitions of every log topic.")
    replication_factor: int = Field(1, ge=1)
    topic_prefix: str = Field("skillmind", description="Topics are named <prefix>.<name>.v<N>; tests use their own.")


class PostgresSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 15432
    user: str = "skillmind"
    password: SecretStr = SecretStr(DEFAULT_POSTGRES_PASSWORD)
    dbname: str = "skillmind"

    def conninfo(self, dbname: str | None = None) -> str:
        """libpq connection string (quoted by psycopg, so any password works);
        ``dbname`` overrides the configured database."""
        return make_conninfo(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password.get_secret_value(),
            dbname=dbname or self.dbname,
        )


class S3Settings(BaseModel):
    endpoint: str = "127.0.0.1:17070"
    access_key: str = "skillmind"
    secret_key: SecretStr = SecretStr(DEFAULT_S3_SECRET_KEY)
    region: str = "us-east-1"
    secure: bool = False
    exports_bucket: str = "skillmind-exports"
    archive_bucket: str = "skillmind-archive"


class SmtpSettings(BaseModel):
    """The SMTP server mail is handed to; locally Mailpit (`skillmind services`), which keeps what arrives."""

    host: str = Field("127.0.0.1", description="SMTP server host; Mailpit binds its SMTP and HTTP ports to it.")
    port: int = Field(11025, ge=1, le=65535, description="SMTP port (plain SMTP; Mailpit listens here locally).")
    sender: str = Field(
        "SkillMind Analytics <no-reply@skillmind.local>", description="`From` of every mail (RFC 5322 address)."
    )
    timeout_s: float = Field(
        10.0, gt=0, le=300, description="Seconds for the connection and for each SMTP command to answer."
    )
    mailpit_http_port: int = Field(
        18025, ge=1, le=65535, description="Mailpit's web UI and HTTP API port on `host` (local runs and tests)."
    )

    @property
    def mailpit_url(self) -> str:
        """Base URL of Mailpit's web UI and HTTP API (``/api/v1/...``, ``/readyz``)."""
        return f"http://{self.host}:{self.mailpit_http_port}"


class ApiSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8000
    jwt_secret: SecretStr = SecretStr(DEFAULT_JWT_SECRET)
    jwks_url: str | None = Field(None, description="Issuer's JWKS; tokens are then RS256/ES256, keys cached.")
    jwt_audience: str | None = Field(None, description="Required `aud` of tokens (required in production).")
    jwt_issuer: str | None = Field(None, description="Required `iss` of tokens (required in production).")
    jwks_refresh_cooldown_s: float = Field(
        30, ge=0, description="An unknown `kid` refetches the JWKS at most this often (no refetch storms)."
    )
    jwt_leeway_s: int = Field(30, ge=0, le=300, description="Clock leeway for `exp`, `iat` and `nbf`.")
    jwt_max_lifetime_s: int = Field(
        86_400, ge=60, description="Longest accepted token lifetime (`exp` − `iat`), in seconds."
    )
    max_body_bytes: int = Field(5_000_000, ge=1024, description="Largest ingest body accepted.")
    max_request_bytes: int = Field(
        1_000_000, ge=1024, description="Largest body of any other request (mutations, exports, holds): 413 above."
    )
    max_batch_events: int = Field(1000, ge=1, description="Most events in one ingest batch.")
    ready_max_lag: int = Field(
        10_000,
        ge=0,
        description="/readyz answers 503 while a component is more than this many offsets behind (catching up).",
    )
    read_your_writes_timeout_s: float = Field(
        10.0, gt=0, le=60, description="How long a read with min_position (or a write with wait) waits."
    )
    ready_components: list[str] = Field(
        ["sequencer", "projections", "scheduler", "exports", "notifications"],
        description="Components /readyz requires a live, progressing instance of (heartbeats in PostgreSQL).",
    )
    webhook_private_targets: bool = Field(
        False,
        description="Allow webhook URLs on loopback, private and link-local addresses (local testing only).",
    )
    heartbeat_stale_s: float = Field(10.0, gt=0, description="A heartbeat older than this: the instance is gone.")
    stall_s: float = Field(30.0, gt=0, description="Work waiting and no progress for this long: stalled.")


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


class ExportSettings(BaseModel):
    """Background exports and their links (``jobs/exports.py``, ``jobs/expiry.py``)."""

    ttl_hours: float = Field(168, gt=0, le=24 * 365, description="How long a finished export is kept (then expired).")
    link_ttl_s: int = Field(
        3600, ge=60, le=604_800, description="Presigned link lifetime, at most the export's time left (S3 max 7 days)."
    )
    bulk_rows: int = Field(10_000, ge=1, description="Learner rows above which an export needs `exports.bulk`.")
    expiry_every_s: int = Field(60, ge=1, description="How often the beat task expires exports past their TTL.")
    reconcile_every_s: int = Field(600, ge=10, description="How often bucket and records are reconciled.")
    reconcile_grace_s: int = Field(
        3600, ge=0, description="An object younger than this without a record is in flight, not an orphan."
    )
    public_endpoint: str | None = Field(
        None, description="S3 host:port the users' links point at, if not `s3.endpoint` (e.g. behind a proxy)."
    )


class OutboxSettings(BaseModel):
    """The outbox dispatcher of every log worker (``jobs/outbox.py``)."""

    batch: int = Field(50, ge=1, description="Deliveries claimed per round.")
    lease_s: int = Field(300, ge=5, description="A claimed delivery not finished by then is retried (crash).")
    max_attempts: int = Field(
        11, ge=1, le=11, description="Attempts before a delivery is dead (at most the schedule's 11: about a day)."
    )


class ArchiveSettings(BaseModel):
    """The archive of the log as Parquet in S3 (``jobs/archiver.py``)."""

    max_file_records: int = Field(
        50_000, ge=1, le=1_000_000, description="A file closes at this many records (and holds at most so many)."
    )
    max_file_bytes: int = Field(
        32 * 1024 * 1024, ge=1024, description="A file closes once its records' JSON reaches this many bytes."
    )
    max_age_s: float = Field(
        300, gt=0, description="A file closes when its oldest record has waited this long (seconds)."
    )
    seal_every_s: float = Field(2.0, gt=0, description="How often due files are closed and uploaded (seconds).")
    batch: int = Field(2000, ge=1, description="Log records taken per transaction.")
    snapshot_hour: int = Field(3, ge=0, le=23, description="UTC hour of the daily read-model snapshot.")
    snapshot_minute: int = Field(30, ge=0, le=59)


class AuditSettings(BaseModel):
    """The auditor's side (issue 11): the key that signs export manifests and chain checkpoints."""

    signing_key: SecretStr = Field(
        SecretStr(DEFAULT_AUDIT_SIGNING_KEY),
        description="Ed25519 private key, base64 of its 32-byte seed (`skillmind audit keygen`).",
    )
    checkpoint_hour: int = Field(3, ge=0, le=23, description="UTC hour of the daily signed chain checkpoint.")
    checkpoint_minute: int = Field(5, ge=0, le=59)
    checkpoint_every_days: int = Field(1, ge=1, le=31, description="Checkpoint every this many days.")

    @field_validator("signing_key")
    @classmethod
    def _an_ed25519_seed(cls, value: SecretStr) -> SecretStr:
        # Refuse a malformed key at start, naming the variable, not at the first export.
        try:
            seed = base64.b64decode(value.get_secret_value(), validate=True)
        except ValueError as err:
            raise ValueError("must be base64 (make one with `skillmind audit keygen`)") from err
        if value.get_secret_value() and len(seed) != 32:
            raise ValueError(f"must be the base64 of a 32-byte Ed25519 seed, not of {len(seed)} bytes")
        return value


class PrivacySettings(BaseModel):
    """Personal data in the log (issue 12 §3): the key-encryption key that wraps every
    per-subject data key (AES key wrap, RFC 3394) kept in PostgreSQL (``subject_keys``)."""

    kek: SecretStr = Field(
        SecretStr(DEFAULT_KEK),
        description="AES-256 key-encryption key, base64 of 32 random bytes (`openssl rand -base64 32`).",
    )

    @field_validator("kek")
    @classmethod
    def _an_aes256_key(cls, value: SecretStr) -> SecretStr:
        try:
            key = base64.b64decode(value.get_secret_value(), validate=True)
        except ValueError as err:
            raise ValueError("must be base64 of 32 random bytes (`openssl rand -base64 32`)") from err
        if value.get_secret_value() and len(key) != 32:
            raise ValueError(f"must be the base64 of a 32-byte AES-256 key, not of {len(key)} bytes")
        return value

    def kek_bytes(self) -> bytes:
        """The 32 bytes of the key-encryption key."""
        return base64.b64decode(self.kek.get_secret_value())


class LocalServicesSettings(BaseModel):
    """How `skillmind services` runs Kafka, PostgreSQL, the S3 server and Mailpit without Docker."""

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
    mailpit_version: str = Field("v1.33.1", description="Mailpit release built with `go install` (local SMTP).")
    mailpit_max_messages: int = Field(
        0,
        ge=0,
        description="Mails Mailpit keeps, oldest pruned first; 0 keeps all, so duplicate Message-IDs stay detected.",
    )
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
    exports: ExportSettings = ExportSettings()
    outbox: OutboxSettings = OutboxSettings()
    archive: ArchiveSettings = ArchiveSettings()
    audit: AuditSettings = AuditSettings()
    privacy: PrivacySettings = PrivacySettings()
    services: LocalServicesSettings = LocalServicesSettings()

    @model_validator(mode="after")
    def _production_needs_real_secrets(self) -> Settings:
        # Defaults are for local runs: in production a missing secret must stop the
        # process at start, not let it accept tokens signed with a key in our repository.
        if self.env == "production":
            missing = production_problems(self)
            if missing:
                raise ValueError("in production (SKILLMIND_ENV=production) set: " + "; ".join(missing))
        return self


def _unset(secret: SecretStr, default: str) -> bool:
    return secret.get_secret_value() in ("", default)


def production_problems(settings: Settings) -> list[str]:
    """Each environment variable that production needs and lacks, with why."""
    problems = []
    if not settings.api.jwks_url and _unset(settings.api.jwt_secret, DEFAULT_JWT_SECRET):
        problems.append("SKILLMIND_API__JWT_SECRET (empty or the local default; or set SKILLMIND_API__JWKS_URL)")
    if not settings.api.jwt_audience:
        problems.append("SKILLMIND_API__JWT_AUDIENCE (tokens must name this service)")
    if not settings.api.jwt_issuer:
        problems.append("SKILLMIND_API__JWT_ISSUER (tokens must come from your issuer)")
    if _unset(settings.postgres.password, DEFAULT_POSTGRES_PASSWORD):
        problems.append("SKILLMIND_POSTGRES__PASSWORD (empty or the local default)")
    if _unset(settings.s3.secret_key, DEFAULT_S3_SECRET_KEY):
        problems.append("SKILLMIND_S3__SECRET_KEY (empty or the local default)")
    if _unset(settings.audit.signing_key, DEFAULT_AUDIT_SIGNING_KEY):
        problems.append("SKILLMIND_AUDIT__SIGNING_KEY (empty or the local default; `skillmind audit keygen`)")
    if _unset(settings.privacy.kek, DEFAULT_KEK):
        problems.append("SKILLMIND_PRIVACY__KEK (empty or the local default; `openssl rand -base64 32`)")
    return problems


def load_settings(**overrides: object) -> Settings:
    """Read the environment once; keyword overrides win (used by tests and the CLI)."""
    return Settings(**overrides)  # type: ignore[arg-type]
