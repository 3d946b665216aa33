"""The S3 adapter: a client built from settings, and the buckets the product needs.

Buckets are created with object lock enabled because exports and archives may be
put under legal hold, and S3 only allows object lock at bucket creation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import urllib3
from minio import Minio
from minio import datatypes as minio_datatypes
from minio import time as minio_time
from minio.error import S3Error

from skillmind.settings import S3Settings


def _iso8601_any_precision(value: str | None) -> datetime | None:
    """RFC 3339 UTC times with up to nanoseconds (versitygw sends 9 fractional digits; minio's
    parser takes at most 6 and raises ValueError on more, e.g. when listing a bucket)."""
    if value is None:
        return None
    head, dot, rest = value.partition(".")
    if dot:
        value = f"{head}.{rest.rstrip('Z')[:6]}Z"
    return _minio_from_iso8601utc(value)


_minio_from_iso8601utc = minio_time.from_iso8601utc
# minio's datatypes module imported the name itself; both must see the lenient parser.
minio_time.from_iso8601utc = _iso8601_any_precision
minio_datatypes.from_iso8601utc = _iso8601_any_precision  # type: ignore[attr-defined]


class ObjectStoreError(Exception):
    """The S3 server refused or failed an operation we need."""


def make_client(s3: S3Settings, *, fail_fast: bool = False) -> Minio:
    """A minio client for the configured S3 server; ``fail_fast`` disables retries (probes)."""
    http = None
    if fail_fast:
        http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=1.0, read=2.0), retries=urllib3.Retry(total=0))
    return Minio(
        s3.endpoint,
        access_key=s3.access_key,
        secret_key=s3.secret_key.get_secret_value(),
        secure=s3.secure,
        region=s3.region,
        http_client=http,
    )


@dataclass(frozen=True)
class BucketReport:
    name: str
    created: bool


def ensure_buckets(client: Minio, s3: S3Settings) -> list[BucketReport]:
    """Create the exports and archive buckets (object lock on) if missing; idempotent."""
    reports = []
    for name in (s3.exports_bucket, s3.archive_bucket):
        try:
            if client.bucket_exists(name):
                reports.append(BucketReport(name, created=False))
                continue
            client.make_bucket(name, object_lock=True)
        except S3Error as err:
            if err.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise ObjectStoreError(f"cannot create bucket {name!r}: {err.code} {err.message}") from err
            reports.append(BucketReport(name, created=False))
            continue
        reports.append(BucketReport(name, created=True))
    return reports
