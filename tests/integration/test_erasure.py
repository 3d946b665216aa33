"""Issue 12 §3: subject erasure by crypto-shredding, through the whole running pipeline.

A user registered through the API with a distinctive name and e-mail is erased; then the raw
bytes of the log and inbox topics, every archive object (bytes and decoded rows), every table
of the database and a fresh CSV export hold neither, while they did hold the name before the
erasure where the product shows it; the chain verifies over Kafka and the archive; a replay
from the archive gives the live tables' checksums; 409 under a legal hold, 403 for every
role but company_admin; a fresh event still reaches a report.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import psycopg
import pyarrow.parquet as pq
from fastapi.testclient import TestClient
from psycopg import sql

from events.inbox import InboxWriter
from events.reader import read_to_end
from events.topics import topic_name
from events.verify import verify_log
from jobs.archive_audit import verify_archive
from jobs.archive_replay import archive_source
from jobs.archiver import WORKER, Sealer
from jobs.erasure import redact_erased
from jobs.objectstore import make_client
from jobs.snapshot import take_snapshot
from projections.personal import ERASED_NAME
from projections.rebuild import checksums, rebuild
from schemas.examples import cloud_event
from skillmind.settings import Settings
from tests.integration.pipeline import (
    COMPONENTS,
    api_client,
    assert_fresh_event_reaches_report,
    bearer,
    post_fresh_event,
    running_pipeline,
    seed_history,
    wait_fresh_row,
    wait_until,
)
from tests.integration.test_exports import download, request_export, wait_ready

SUBJECT, NAME, EMAIL = "acme-zq", "Zebulon Quartermaine-Erasmus", "zebulon.q.erasmus@erase.example"
# A user written straight to the inbox in v1 (before encryption existed): plaintext in the log.
LEGACY, LEGACY_NAME, LEGACY_EMAIL = "acme-old", "Ottoline Legacy-Plaintext", "ottoline.legacy@erase.example"
NEEDLES = (NAME, EMAIL)


def _found(blob: bytes, needles: tuple[str, ...] = NEEDLES) -> list[str]:
    """Which needles ``blob`` holds, as UTF-8 or as the hex PostgreSQL prints bytea in."""
    return [n for n in needles if n.encode() in blob or n.encode().hex().encode() in blob]


def _topic_bytes(settings: Settings, name: str) -> bytes:
    return b"\n".join(m.value() or b"" for m in read_to_end(settings.kafka, topic_name(settings.kafka, name)))


def _archive_bytes(settings: Settings) -> bytes:
    """Every version of every object in the archive bucket (log files and read-model
    snapshots): its bytes, compressed or not, and its Parquet rows decoded to text."""
    return _bucket_bytes(settings, settings.s3.archive_bucket)


def _bucket_bytes(settings: Settings, bucket: str) -> bytes:
    s3 = make_client(settings.s3)
    parts = []
    for obj in s3.list_objects(bucket, recursive=True, include_version=True):
        response = s3.get_object(bucket, obj.object_name or "", version_id=obj.version_id)
        try:
            raw = response.read()
        finally:
            response.close()
            response.release_conn()
        parts.append(raw)
        if (obj.object_name or "").endswith(".parquet"):
            parts.append(repr(pq.read_table(io.BytesIO(raw)).to_pylist()).encode())
    return b"\n".join(parts)


def _database_dump(settings: Settings) -> bytes:
    """Every row of every table of the test's database, as text (bytea as hex)."""
    query = (
        "select table_schema, table_name from information_schema.tables where table_type = 'BASE TABLE' "
        "and table_schema not in ('pg_catalog', 'information_schema')"
    )
    lines = []
    with psycopg.connect(settings.postgres.conninfo(), autocommit=True) as conn:
        for schema, table in conn.execute(query).fetchall():
            rows = conn.execute(sql.SQL("select t::text from {} t").format(sql.Identifier(schema, table))).fetchall()
            lines += [f"{schema}.{table}: {r[0]}" for r in rows]
    return "\n".join(lines).encode()


def _log_ends(settings: Settings) -> dict[int, int]:
    ends: dict[int, int] = {}
    for m in read_to_end(settings.kafka, topic_name(settings.kafka, "log")):
        ends[m.partition()] = m.offset() + 1
    return ends


def _settled(settings: Settings) -> bool:
    """The archiver and the read models have taken every message of the log."""
    ends = _log_ends(settings)
    with psycopg.connect(settings.postgres.conninfo(), autocommit=True) as conn:
        archived = dict(conn.execute("select partition, next_offset from worker_positions where worker = %s", [WORKER]))
        folded = dict(conn.execute("select partition, next_offset from readmodel.positions"))
    return all(archived.get(p, 0) >= end and folded.get(p, 0) >= end for p, end in ends.items())


def _user_row(settings: Settings, user: str) -> Any:
    with psycopg.connect(settings.postgres.conninfo(), autocommit=True) as conn:
        return conn.execute(
            "select display_name, email from readmodel.users where tenant_id = 'acme' and user_id = %s", [user]
        ).fetchone()


def _csv_export(client: TestClient, admin: dict[str, str]) -> str:
    export_id = request_export(client, admin, format="csv", group_by="learner")
    wait_ready(client, admin, export_id)
    return download(client, admin, export_id).decode()


def _register(client: TestClient, settings: Settings, admin: dict[str, str]) -> None:
    body = {"user_id": SUBJECT, "display_name": NAME, "email": EMAIL, "roles": ["learner"]}
    assert client.post("/v1/users", headers=admin, json=body).status_code == 202
    enrol = client.post("/v1/enrolments", headers=admin, json={"learner_id": SUBJECT, "cohort_id": "acme-p0-c0"})
    assert enrol.status_code == 202, enrol.text
    legacy = {"user_id": LEGACY, "display_name": LEGACY_NAME, "email": LEGACY_EMAIL, "roles": ["learner"]}
    inbox = InboxWriter(settings.kafka)  # a writer around the API, in v1: plaintext
    try:
        inbox.append([cloud_event("user.registered", legacy, tenant="acme", event_id="legacy-user")])
    finally:
        inbox.close()
    wait_until("the legacy user in the directory", lambda: _user_row(settings, LEGACY))


def _refusals(client: TestClient, settings: Settings, admin: dict[str, str]) -> dict[str, int]:
    """403 for every other role (platform_admin included: the tenant decides); 409 under a hold;
    404 for a stranger. Returns the ``min_position`` at which the holds are released."""
    for role in ("learner", "manager", "mentor", "program_owner", "auditor", "ingest", "platform_admin"):
        answer = client.post(f"/v1/subjects/{SUBJECT}/erasure", headers=bearer(settings, "acme", "x-1", role))
        assert answer.status_code == 403 and answer.json()["rule"] == "role_required", (role, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
    for scope in ({"scope": "learner", "scope_id": SUBJECT}, {"scope": "tenant"}):
        hold = client.post("/v1/legal-holds", headers=admin, json={**scope, "case_reference": "C-1", "reason": "r"})
        assert hold.status_code == 202, hold.text
        # Right after the hold, with or without the hold's position: the erasure waits until
        # the read models hold what the API has seen appended, so a fresh hold always counts.
        seen = {"min_position": hold.json()["position"]} if scope["scope"] == "learner" else {}
        held = client.post(f"/v1/subjects/{SUBJECT}/erasure", headers=admin, params=seen)
        assert held.status_code == 409 and hold.json()["hold_id"] in held.json()["detail"], held.text
        assert held.headers["content-type"].startswith("application/problem+json")
        release = client.delete(f"/v1/legal-holds/{hold.json()['hold_id']}", headers=admin, params={"reason": "done"})
        assert release.status_code == 202, release.text
        folded = {"min_position": release.json()["position"]}
    unknown = client.post("/v1/subjects/nobody-at-all/erasure", headers=admin, params=folded)
    assert unknown.status_code == 404, unknown.text
    # Registered a moment ago and erased at once: found, not 404 (a new-user trial got 404).
    quick = {"user_id": "quick-1", "display_name": "Quick One", "email": "quick@acme.example", "roles": ["learner"]}
    assert client.post("/v1/users", headers=admin, json=quick).status_code == 202
    gone = client.post("/v1/subjects/quick-1/erasure", headers=admin)
    assert gone.status_code == 202 and gone.json()["key_destroyed"], gone.text
    return folded


def test_an_erased_subject_is_unreadable_everywhere_and_replay_matches(pipeline_settings: Settings) -> None:
    settings = pipeline_settings
    admin = bearer(settings, "acme", "admin-1", "company_admin")
    with running_pipeline(settings, (*COMPONENTS, "archiver")), api_client(settings) as client:
        seed_history(client, settings)
        _register(client, settings, admin)
        post_fresh_event(client, settings, "acme", SUBJECT)
        wait_fresh_row(client, settings, "acme", SUBJECT)
        assert _user_row(settings, SUBJECT) == (NAME, EMAIL)
        assert NAME in _csv_export(client, admin)  # the product shows the name: the greps below can see it
        assert _found(_bucket_bytes(settings, settings.s3.exports_bucket), (NAME,)) == [NAME]
        assert _found(_database_dump(settings)) == list(NEEDLES)
        take_snapshot(settings)  # the read models as Parquet in the archive bucket: the name in users
        assert _found(_archive_bytes(settings)) == list(NEEDLES)
        assert _found(_topic_bytes(settings, "log")) == []  # sealed from the start
        assert _found(_topic_bytes(settings, "inbox")) == []

        released = _refusals(client, settings, admin)
        erased = client.post(f"/v1/subjects/{SUBJECT}/erasure", headers=admin, params=released)
        assert erased.status_code == 202, erased.text
        assert erased.json()["key_destroyed"] and erased.json()["unsealed_sequences"] == []
        again = client.post(f"/v1/subjects/{SUBJECT}/erasure", headers=admin)
        assert again.status_code == 202 and again.json()["event_id"] == erased.json()["event_id"]
        legacy = client.post(f"/v1/subjects/{LEGACY}/erasure", headers=admin)
        assert legacy.status_code == 202 and len(legacy.json()["unsealed_sequences"]) == 1, legacy.text
        wait_until("the erasure in the directory", lambda: _user_row(settings, SUBJECT) == (ERASED_NAME, None))
        wait_until("the legacy erasure folded", lambda: _user_row(settings, LEGACY) == (ERASED_NAME, None))

        export = _csv_export(client, admin)
        rows = [r for r in csv.DictReader(io.StringIO(export)) if r["learner_id"] == SUBJECT]
        assert rows and rows[0]["display_name"] == ERASED_NAME  # the aggregates stay, the name does not
        wait_until("the archiver and the read models took every message", lambda: _settled(settings), 120)
        Sealer(settings).flush(force=True)
        assert _found(_archive_bytes(settings), (LEGACY_NAME,)) == [LEGACY_NAME]  # archived after the erasure
        assert redact_erased(settings) == 1 and redact_erased(settings) == 0  # the hourly pass; idempotent

        assert _found(export.encode()) == []
        assert _found(_bucket_bytes(settings, settings.s3.exports_bucket)) == []  # earlier exports expired
        assert _found(_topic_bytes(settings, "log")) == []
        assert _found(_topic_bytes(settings, "inbox")) == []
        assert _found(_archive_bytes(settings)) == []
        assert _found(_archive_bytes(settings), (LEGACY_NAME, LEGACY_EMAIL)) == []
        assert _found(_database_dump(settings)) == []
        assert _found(_database_dump(settings), (LEGACY_NAME, LEGACY_EMAIL)) == []
        # What README "Erasure" says remains until `skillmind archive trim`: the v1 record's plaintext.
        assert _found(_topic_bytes(settings, "log"), (LEGACY_NAME,)) == [LEGACY_NAME]

        assert verify_log(settings.kafka, topic_name(settings.kafka, "log")).broken is None
        assert verify_archive(settings).ok
        live = checksums(settings)
        assert rebuild(settings, source=archive_source(settings)) == live
        assert _user_row(settings, SUBJECT) == (ERASED_NAME, None)
        assert_fresh_event_reaches_report(client, settings, "acme", "acme-l3")
