"""Issue 8, property: anything the contract's validator accepts, the PostgreSQL writer can
store — and it reads back unchanged. Strings carry every character class (controls, lone
surrogates, astral planes), integers every magnitude; what the validator lets through must
be applied (never quarantined, never an error) and come back byte for byte."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql

from events.chain import GENESIS_HASH, record_hash
from projections.facts import fact_changes
from projections.runner import LogMessage, ReadModelWriter, create_schema
from schemas.examples import EXAMPLE_DATA, cloud_event
from schemas.types import ID_PATTERN, NOT_IN_DIRECTORY, ROLES, format_utc
from schemas.validation import Valid, validate_event
from skillmind.settings import Settings

SCHEMA = "prop_readmodel"
_offsets = itertools.count()

NASTY = st.sampled_from(
    ["\x00", "\x01", "\x1f", "\t", "\n", "\r", "\x7f", "\ud800", "\udfff", "😀", "\u2028", "'", '"']
)
CLEAN = st.text(st.characters(codec="utf-8", exclude_categories=["Cc", "Cs"]), min_size=1, max_size=40)
TEXT = st.one_of(
    CLEAN,
    CLEAN,
    CLEAN,
    st.text(max_size=40),
    st.lists(st.one_of(st.text(max_size=3), NASTY), max_size=8).map("".join),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=190, max_size=260),
)
TIMES = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)).map(
    format_utc
)
INTS = st.one_of(st.integers(1, 365), st.integers(-5, 20_000), st.integers(-(2**70), 2**70))
ID = st.from_regex(ID_PATTERN, fullmatch=True).filter(lambda v: len(v) <= 130)
IDS = st.one_of(ID, ID, ID, ID, ID, ID, TEXT)
EMAILS = st.one_of(st.tuples(TEXT, TEXT).map("@".join), st.emails())


def _like(key: str, value: Any) -> st.SearchStrategy[Any]:
    """The example's own value (so every type gets valid events too) or a generated one of its kind."""
    return st.one_of(st.just(value), _generated(key, value))


def _generated(key: str, value: Any) -> st.SearchStrategy[Any]:
    if key.endswith("_id"):
        return IDS
    if key == "email":
        return EMAILS
    if key == "role":
        return st.one_of(st.sampled_from(ROLES), TEXT)
    if isinstance(value, bool):
        return st.booleans()
    if isinstance(value, int):
        return INTS
    if isinstance(value, list):
        return st.lists(st.one_of(st.sampled_from(value), st.sampled_from(ROLES), TEXT), max_size=4)
    if isinstance(value, str) and value.endswith("Z"):
        return st.one_of(TIMES, TEXT)
    if isinstance(value, dict):
        return st.fixed_dictionaries({k: _like(k, v) for k, v in value.items()})
    return TEXT


KINDS = sorted(set(EXAMPLE_DATA) - {"engagement.recompute_requested"})  # ticks read facts: covered elsewhere


def _events(kind: str) -> st.SearchStrategy[tuple[dict[str, Any], str | None, str]]:
    fields = st.fixed_dictionaries({k: _like(k, v) for k, v in EXAMPLE_DATA[kind].items()})
    return st.tuples(fields, st.one_of(st.none(), TEXT), TIMES)


@pytest.fixture(scope="module")
def conn(services_up: Settings, database: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(services_up.postgres.conninfo(database), autocommit=True) as connection:
        connection.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(SCHEMA)))
        create_schema(connection, SCHEMA)
        connection.execute(
            "create table if not exists score_outbox (id bigserial, record_id text, tenant_id text, payload jsonb)"
        )
        yield connection


def _log_record(valid: Valid, tenant: str) -> dict[str, Any]:
    record = {**valid.record, "tenantid": tenant, "sequence": 1, "appendedat": "2026-11-30T00:00:00Z"}
    record["prevhash"] = GENESIS_HASH
    record["hash"] = record_hash(record)
    return record


@pytest.mark.parametrize("kind", KINDS)
def test_what_the_validator_accepts_the_store_keeps_unchanged(conn: psycopg.Connection, kind: str) -> None:
    accepted = 0

    @settings(max_examples=60, suppress_health_check=list(HealthCheck))
    @given(event=_events(kind))
    def check(event: tuple[dict[str, Any], str | None, str]) -> None:
        nonlocal accepted
        data, subject, time = event
        raw = cloud_event(kind, data, tenant="acme", event_id="e-1", time=time)
        if subject is not None:
            raw["subject"] = subject
        judged = validate_event(raw)
        if isinstance(judged, Valid):
            accepted += 1
            _stored_unchanged(conn, judged)

    check()
    assert accepted > 0, "the generator never produced a valid event: the property proved nothing"


def _stored_unchanged(conn: psycopg.Connection, judged: Valid) -> None:
    offset = next(_offsets)
    record = _log_record(judged, f"t{offset}")
    outcome = ReadModelWriter(conn, "prop", schema=SCHEMA, publish=False).apply([LogMessage(0, offset, record)])
    data = record["data"]
    grants = record["type"] in ("role.granted", "role.revoked", "user.registered")
    if grants and NOT_IN_DIRECTORY in (data.get("roles") or [data.get("role")]):
        # Not a store limit but a directory rule: set aside, never applied (README, the quarantine).
        assert (outcome.applied, outcome.quarantined) == (0, 1), record
        return
    assert (outcome.applied, outcome.quarantined) == (1, 0), record
    for change in fact_changes(record):
        table = change.table
        where = sql.SQL(" and ").join(sql.SQL("{} = %s").format(sql.Identifier(c)) for c in table.key_columns)
        query = sql.SQL("select {} from {} where {}").format(
            sql.SQL(", ").join(map(sql.Identifier, table.columns)), sql.Identifier(SCHEMA, table.name), where
        )
        stored = conn.execute(query, change.key).fetchone()
        assert stored == tuple(change.row[c] for c in table.columns), (table.name, change.row)
