"""The audit export: what the writer signs, and every way verify-export catches tampering."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from api.audit_export import AuditExportError, ExportRange, write_audit_export
from api.csv_writer import safe_cell
from events.auditformat import COLUMNS, INDEX, canonical_text, rebuilt_record, record_row
from events.auditsign import checkpoint_data, load_private_key, public_pem, sign
from events.auditverify import verify_export
from events.chain import jcs, record_hash
from projections.holds import Hold
from skillmind.cli import main
from skillmind.settings import DEFAULT_AUDIT_SIGNING_KEY
from tests.unit.auditlog import chain

KEY = load_private_key(DEFAULT_AUDIT_SIGNING_KEY)
PUBLIC = KEY.public_key()
NOW = datetime(2026, 12, 1, tzinfo=UTC)
HOLDS = [Hold("h3", "acme", "learner", "l5"), Hold("h-types", "acme", "event_type", "tenant.created")]


def export(
    records: list[dict[str, Any]], first: int, last: int, types: frozenset[str] | None = None
) -> tuple[bytes, dict[str, Any]]:
    out = io.BytesIO()
    manifest = write_audit_export(
        records, out, tenant="acme", scope=ExportRange(first, last, types), signing_key=KEY, holds=HOLDS, now=NOW
    )
    return out.getvalue(), manifest


def verify(tmp_path: Path, data: bytes, manifest: dict[str, Any], checkpoint: dict[str, Any] | None = None) -> Any:
    path = tmp_path / "export.csv"
    path.write_bytes(data)
    return verify_export(path, manifest, PUBLIC, checkpoint)


def rows_of(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode(), newline="")))


def csv_bytes(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode()


LOG = chain("acme", 40)


def test_an_untouched_export_verifies_and_the_manifest_says_what_it_holds(tmp_path: Path) -> None:
    data, manifest = export(LOG, 1, 40)
    verdict = verify(tmp_path, data, manifest)
    assert verdict.ok and verdict.rows == 40 and verdict.signature_checked, verdict
    assert manifest["csv_sha256"] == hashlib.sha256(data).hexdigest() and manifest["row_count"] == 40
    assert manifest["first"] == {"sequence": 1, "prevhash": "0" * 64, "hash": LOG[0]["hash"]}
    assert manifest["last"]["hash"] == LOG[-1]["hash"] == manifest["chain_head"]["hash"]
    assert manifest["legal_hold"] and manifest["hold_ids"] == ["h-types", "h3"]
    assert rows_of(data)[0] == list(COLUMNS)


def test_a_range_starting_mid_chain_verifies(tmp_path: Path) -> None:
    data, manifest = export(LOG, 17, 29)
    assert verify(tmp_path, data, manifest).ok
    assert manifest["first"]["prevhash"] == LOG[15]["hash"] and manifest["chain_head"]["sequence"] == 40


def test_held_records_are_labelled_with_their_holds() -> None:
    data, _ = export(LOG, 1, 40)
    rows = {int(r[0]): r for r in rows_of(data)[1:]}
    assert rows[1][INDEX["legal_hold"]] == "true" and rows[1][INDEX["hold_ids"]] == "h-types"
    assert rows[5][INDEX["hold_ids"]] == "h3"  # user.registered of l5 (the learner held)
    assert rows[2][INDEX["legal_hold"]] == "false"


def test_every_cell_passes_the_csv_writer_unchanged_so_hashes_survive_neutralisation() -> None:
    data, _ = export(LOG, 1, 40)
    rows = rows_of(data)
    assert all(safe_cell(cell) == cell for row in rows for cell in row)
    formula = next(r for r in rows[1:] if "=1+1" in r[INDEX["other"]])
    assert json.loads(formula[INDEX["other"]]) == {"subject": "=1+1"} and formula[INDEX["subject"]] == ""


def test_types_leave_stubs_that_keep_the_chain_linked(tmp_path: Path) -> None:
    data, manifest = export(LOG, 1, 40, frozenset({"legal_hold.placed"}))
    rows = rows_of(data)[1:]
    assert {r[INDEX["type"]] for r in rows if r[INDEX["row_kind"]] == "record"} == {"legal_hold.placed"}
    stub = next(r for r in rows if r[INDEX["row_kind"]] == "stub")
    assert stub[INDEX["data"]] == "" and stub[INDEX["hash"]]
    assert manifest["stub_rows"] == 32 and verify(tmp_path, data, manifest).ok


def _edit_data_byte(rows: list[list[str]]) -> None:
    rows[10][INDEX["data"]] = rows[10][INDEX["data"]].replace("l", "m", 1)


def _edit_hash_byte(rows: list[list[str]]) -> None:
    cell = rows[10][INDEX["hash"]]
    rows[10][INDEX["hash"]] = ("1" if cell[0] != "1" else "2") + cell[1:]


def _edit_other(rows: list[list[str]]) -> None:
    rows[10][INDEX["other"]] = '{"subject":"=2+2"}'
    rows[10][INDEX["data"]] = rows[10][INDEX["data"]]


TAMPERS: dict[str, tuple[Callable[[list[list[str]]], Any], int | None]] = {
    "edit a byte of data": (_edit_data_byte, 10),
    "edit a byte of a hash": (_edit_hash_byte, 10),
    "delete a middle row": (lambda rows: rows.pop(10), 10),
    "truncate the tail": (lambda rows: rows.__delitem__(slice(35, None)), 35),
    "swap two rows": (lambda rows: rows.__setitem__(slice(10, 12), [rows[11], rows[10]]), 10),
    "insert a row": (lambda rows: rows.insert(10, list(rows[10])), 11),
    "change a sequence": (lambda rows: rows[10].__setitem__(0, "99"), 10),
}


@pytest.mark.parametrize("name", sorted(TAMPERS))
def test_each_tamper_is_caught_naming_the_first_bad_sequence(tmp_path: Path, name: str) -> None:
    data, manifest = export(LOG, 1, 40)
    rows = rows_of(data)
    tamper, bad = TAMPERS[name]
    tamper(rows)
    verdict = verify(tmp_path, csv_bytes(rows), manifest)
    assert not verdict.ok and verdict.sequence == bad, verdict


def test_a_changed_hold_label_is_caught_by_the_file_hash(tmp_path: Path) -> None:
    data, manifest = export(LOG, 1, 40)
    rows = rows_of(data)
    rows[3][INDEX["legal_hold"]] = "true"
    verdict = verify(tmp_path, csv_bytes(rows), manifest)
    assert not verdict.ok and "SHA-256" in verdict.reason


def _relinked(rows: list[list[str]], drop: int) -> list[list[str]]:
    """Delete a middle row and forge the rest: renumber, re-link and re-hash every later row."""
    body = [r for i, r in enumerate(rows[1:], 1) if i != drop]
    prev = body[drop - 2][INDEX["hash"]]
    for row in body[drop - 1 :]:
        row[INDEX["sequence"]] = str(int(row[INDEX["sequence"]]) - 1)
        row[INDEX["prevhash"]] = prev
        row[INDEX["hash"]] = record_hash({**rebuilt_record(row), "hash": ""})
        prev = row[INDEX["hash"]]
    return [rows[0], *body]


def test_a_relinked_deletion_with_recomputed_hashes_is_caught_by_the_signed_manifest(tmp_path: Path) -> None:
    data, manifest = export(LOG, 1, 40)
    forged = _relinked(rows_of(data), 20)
    forged_bytes = csv_bytes(forged)
    last = forged[-1]
    # The forger also fixes the manifest's count, last record and file hash; only the signature stands in the way.
    doctored = {
        **manifest,
        "row_count": 39,
        "csv_sha256": hashlib.sha256(forged_bytes).hexdigest(),
        "last": {"sequence": 39, "prevhash": last[INDEX["prevhash"]], "hash": last[INDEX["hash"]]},
    }
    path = tmp_path / "forged.csv"
    path.write_bytes(forged_bytes)
    assert verify_export(path, doctored, None).ok  # without the public key the forgery is consistent
    verdict = verify_export(path, doctored, PUBLIC)
    assert not verdict.ok and "signature" in verdict.reason
    untouched_manifest = verify(tmp_path, forged_bytes, manifest)
    assert not untouched_manifest.ok and untouched_manifest.sequence == 40


def test_a_manifest_signed_by_another_key_is_refused(tmp_path: Path) -> None:
    data, manifest = export(LOG, 1, 40)
    other = load_private_key("WmqXUeMz0KwUe1gBX8kv5sRf4GOnN3oUQVGmm4dk6Xc=")
    resigned = {**manifest, "signature": sign(other, manifest)}
    assert not verify(tmp_path, data, resigned).ok


def test_a_log_truncated_below_a_signed_checkpoint_is_caught(tmp_path: Path) -> None:
    data, manifest = export(LOG[:30], 1, 30)  # the log lost records 31..40 before the export
    kept = checkpoint_data(KEY, "acme", 40, LOG[39]["hash"])  # a checkpoint the auditor kept
    verdict = verify(tmp_path, data, manifest, kept)
    assert not verdict.ok and verdict.sequence == 31 and "truncated" in verdict.reason


def test_a_rewritten_suffix_disagrees_with_a_signed_checkpoint(tmp_path: Path) -> None:
    data, manifest = export(LOG, 1, 40)
    wrong = checkpoint_data(KEY, "acme", 25, "ab" * 32)
    verdict = verify(tmp_path, data, manifest, wrong)
    assert not verdict.ok and verdict.sequence == 25
    assert verify(tmp_path, data, manifest, checkpoint_data(KEY, "acme", 25, LOG[24]["hash"])).ok


def test_the_export_refuses_a_range_that_does_not_verify() -> None:
    broken = [dict(r) for r in LOG]
    broken[12]["data"] = {"learner_id": "someone-else"}
    with pytest.raises(AuditExportError, match="13"):
        export(broken, 1, 40)
    with pytest.raises(AuditExportError, match="gap"):
        export([r for r in LOG if r["sequence"] != 7], 1, 40)
    with pytest.raises(AuditExportError, match="of the 41"):
        export(LOG, 1, 41)


def test_cli_verify_export_exits_1_naming_the_sequence(tmp_path: Path) -> None:
    data, manifest = export(LOG, 1, 40)
    (tmp_path / "m.json").write_text(json.dumps(manifest))
    (tmp_path / "k.pem").write_text(public_pem(PUBLIC))
    rows = rows_of(data)
    _edit_data_byte(rows)
    (tmp_path / "ok.csv").write_bytes(data)
    (tmp_path / "bad.csv").write_bytes(csv_bytes(rows))
    args = ["audit", "verify-export", "--public-key", str(tmp_path / "k.pem")]
    good = CliRunner().invoke(main, [*args, str(tmp_path / "ok.csv"), str(tmp_path / "m.json")])
    assert good.exit_code == 0 and "verified 40 rows" in good.output, good.output
    bad = CliRunner().invoke(main, [*args, str(tmp_path / "bad.csv"), str(tmp_path / "m.json")])
    assert bad.exit_code == 1 and "at sequence 10" in bad.output, bad.output


json_leaf = st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=12)
json_tree = st.recursive(
    json_leaf, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c, max_size=4), max_leaves=12
)
attribute = st.one_of(st.text(max_size=10), st.integers(-5, 2**53 - 1), json_tree)


@settings(max_examples=300)
@given(st.dictionaries(st.sampled_from([*COLUMNS, "extra", "sequence", "data"]), attribute, max_size=10))
def test_any_record_round_trips_through_its_row(record: dict[str, Any]) -> None:
    record.pop("hash", None)
    for name in ("legal_hold", "hold_ids", "other", "row_kind"):
        record.pop(name, None)
    try:
        expected = jcs(record)
    except (TypeError, ValueError, UnicodeError):
        return  # outside JCS's domain: such a record never had a hash
    cells = [str(c) for c in record_row(record, [])]
    # The CSV layer itself: written by the product's writer rules and read back.
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(cells)
    row = next(csv.reader(io.StringIO(buffer.getvalue(), newline="")))
    assert all(safe_cell(c) == c for c in row)
    assert rebuilt_record(row) == record
    assert jcs(rebuilt_record(row)) == expected
    if not row[INDEX["other"]]:
        assert canonical_text(row).encode() == expected


@pytest.mark.parametrize(
    "body",
    [
        {"from_sequence": 1, "from_time": "2026-01-01T00:00:00Z"},
        {"to_sequence": 1, "to_time": "2026-01-01T00:00:00Z"},
        {"from_sequence": 5, "to_sequence": 4},
        {"from_time": "2026-01-02T00:00:00Z", "to_time": "2026-01-01T00:00:00Z"},
        {"types": ["no.such_type"]},
        {"types": []},
        {"from_time": "1710113400"},
        {"other": 1},
    ],
)
def test_an_audit_export_request_refuses_what_cannot_be_a_range(body: dict[str, Any]) -> None:
    from pydantic import ValidationError

    from api.audit import AuditExportRequest

    with pytest.raises(ValidationError):
        AuditExportRequest(**body)


@settings(max_examples=300)
@given(st.datetimes(timezones=st.just(UTC)), st.integers(0, 9))
def test_log_time_reads_every_time_parse_utc_accepts_to_the_same_value(when: datetime, digits: int) -> None:
    from projections.holds import log_time
    from schemas.types import format_utc, parse_utc

    normal = format_utc(when)
    assert log_time(normal) == parse_utc(normal) == when
    fraction = f".{when.microsecond:06d}777"[: digits + 1] if digits else ""
    other = when.replace(microsecond=0, tzinfo=None).isoformat() + fraction + "+00:00"
    assert log_time(other) == parse_utc(other)
