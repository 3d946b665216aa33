"""The S3 server honours what exports and audit depend on: presigned-URL expiry
and legal hold."""

from __future__ import annotations

import io
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from minio import Minio
from minio.error import S3Error

from jobs.objectstore import make_client
from skillmind.settings import Settings


@pytest.fixture
def s3(services_up: Settings) -> Minio:
    return make_client(services_up.s3)


@pytest.fixture
def bucket(s3: Minio) -> Iterator[str]:
    name = f"test-{uuid.uuid4().hex[:12]}"
    s3.make_bucket(name, object_lock=True)
    yield name
    for obj in s3.list_objects(name, recursive=True, include_version=True):
        if s3.is_object_legal_hold_enabled(name, obj.object_name, obj.version_id):
            s3.disable_object_legal_hold(name, obj.object_name, obj.version_id)
        s3.remove_object(name, obj.object_name, version_id=obj.version_id)
    s3.remove_bucket(name)


def _put(s3: Minio, bucket: str, key: str, body: bytes) -> str:
    result = s3.put_object(bucket, key, io.BytesIO(body), len(body), content_type="text/csv")
    return result.version_id


def _http_get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_put_get_round_trip(s3: Minio, bucket: str) -> None:
    body = b"learner_id,score\nl-1,73\n"
    _put(s3, bucket, "reports/a.csv", body)
    response = s3.get_object(bucket, "reports/a.csv")
    try:
        assert response.read() == body
    finally:
        response.close()
        response.release_conn()


def test_presigned_get_works_until_it_expires(s3: Minio, bucket: str) -> None:
    _put(s3, bucket, "exports/e.csv", b"payload")
    url = s3.presigned_get_object(bucket, "exports/e.csv", expires=timedelta(seconds=2))
    assert _http_get(url) == (200, b"payload")
    time.sleep(3.5)
    status, body = _http_get(url)
    assert status == 403
    assert b"expired" in body.lower()


def test_a_tampered_presigned_url_is_refused(s3: Minio, bucket: str) -> None:
    _put(s3, bucket, "exports/secret.csv", b"x")
    _put(s3, bucket, "exports/other.csv", b"y")
    url = s3.presigned_get_object(bucket, "exports/secret.csv", expires=timedelta(minutes=5))
    status, _ = _http_get(url.replace("secret.csv", "other.csv"))
    assert status == 403


def test_object_under_legal_hold_cannot_be_deleted(s3: Minio, bucket: str) -> None:
    version = _put(s3, bucket, "audit/2026-11.csv", b"evidence")
    s3.enable_object_legal_hold(bucket, "audit/2026-11.csv", version)
    assert s3.is_object_legal_hold_enabled(bucket, "audit/2026-11.csv", version)

    with pytest.raises(S3Error) as refused:
        s3.remove_object(bucket, "audit/2026-11.csv", version_id=version)
    assert refused.value.code == "AccessDenied"
    assert s3.stat_object(bucket, "audit/2026-11.csv", version_id=version).size == 8

    s3.disable_object_legal_hold(bucket, "audit/2026-11.csv", version)
    s3.remove_object(bucket, "audit/2026-11.csv", version_id=version)
    with pytest.raises(S3Error):
        s3.stat_object(bucket, "audit/2026-11.csv", version_id=version)
