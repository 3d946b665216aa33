"""The audit export's CSV format: one row per log record, enough to recompute its hash.

The file (UTF-8, RFC 4180, CRLF) starts with a header row of :data:`COLUMNS`. Each row is
one record of the tenant's log, in sequence order. Record attributes are spread over the
*attribute columns*; the record that was hashed is rebuilt from them by one rule:

* an empty cell means the attribute is absent;
* ``sequence`` and ``schemaversion`` hold a JSON integer, ``data`` holds JSON text (the
  RFC 8785 form of the record's ``data``), every other attribute column holds a string;
* ``other``, when not empty, is a JSON object of the attributes the columns cannot carry
  as they are (an unknown attribute, a value of an unexpected JSON type, an empty string,
  or text a spreadsheet would read as a formula — see below); its members are added.

``hash`` must equal SHA-256(``prevhash`` ‖ RFC 8785(rebuilt record)), lowercase hex.
``legal_hold`` (``true``/``false``) and ``hold_ids`` (space-separated) say which active
legal holds cover the record at export time; they are not part of the hash.

A row whose ``row_kind`` is ``stub`` stands for a record left out of the file (another
type than the export asked for, or purged by retention): only ``sequence``, ``prevhash``
and ``hash`` are filled, and only the link to the next row proves it.

**Spreadsheet safety without breaking hashes.** The product's one CSV writer
(``api/csv_writer.py``) prefixes ``'`` to a text cell starting with ``=``, ``+``, ``-``,
``@``, TAB or CR. Such an alteration could not be undone unambiguously, so no attribute
cell ever starts with one: a string that would is carried in ``other`` (a JSON object
whose text starts with ``{``). The writer's neutralisation is then a no-op on every cell,
and verifiers never un-escape anything.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from events.chain import jcs

FORMAT = "skillmind-audit-export/1"
STRING_ATTRIBUTES = (
    "id",
    "type",
    "time",
    "appendedat",
    "actor",
    "subject",
    "prevhash",
    "tenantid",
    "source",
    "specversion",
    "datacontenttype",
    "dataschema",
)
INTEGER_ATTRIBUTES = ("sequence", "schemaversion")
JSON_ATTRIBUTES = ("data",)
ATTRIBUTES = frozenset(STRING_ATTRIBUTES + INTEGER_ATTRIBUTES + JSON_ATTRIBUTES)
COLUMNS = (
    "sequence",
    "id",
    "type",
    "time",
    "appendedat",
    "actor",
    "subject",
    "data",
    "legal_hold",
    "hold_ids",
    "prevhash",
    "hash",
    "tenantid",
    "source",
    "specversion",
    "datacontenttype",
    "dataschema",
    "schemaversion",
    "other",
    "row_kind",
)
INDEX = {name: i for i, name in enumerate(COLUMNS)}
# Attribute columns in RFC 8785 member order (UTF-16 code units; ASCII here).
HASHED_ORDER = tuple(sorted(ATTRIBUTES))
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # the CSV writer's list (OWASP)
_CANONICAL_UINT = re.compile(r"0|[1-9][0-9]*")
_SURROGATE = re.compile("[\ud800-\udfff]")
_JS_SAFE_INT = 2**53 - 1


def _string_cell(value: Any) -> str | None:
    if not isinstance(value, str) or not value or value.startswith(FORMULA_STARTS) or _SURROGATE.search(value):
        return None
    return value


def _integer_cell(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _JS_SAFE_INT:
        return None
    return str(value)


def _json_cell(value: Any) -> str | None:
    try:
        text = jcs(value).decode()
    except (TypeError, ValueError, UnicodeError):
        return None
    return None if text.startswith(FORMULA_STARTS) else text


_CELL = {
    **dict.fromkeys(STRING_ATTRIBUTES, _string_cell),
    **dict.fromkeys(INTEGER_ATTRIBUTES, _integer_cell),
    **dict.fromkeys(JSON_ATTRIBUTES, _json_cell),
}


def _other_cell(other: Mapping[str, Any]) -> str:
    if not other:
        return ""
    try:
        return jcs(other).decode()
    except (TypeError, ValueError, UnicodeError):  # e.g. a lone surrogate: escaped, still JSON
        return json.dumps(other, sort_keys=True, separators=(",", ":"))


def record_row(record: Mapping[str, Any], hold_ids: Sequence[str]) -> list[Any]:
    """The CSV cells of one log record (``hold_ids``: the active holds covering it, sorted)."""
    cells: dict[str, Any] = dict.fromkeys(COLUMNS, "")
    other: dict[str, Any] = {}
    for name, value in record.items():
        if name == "hash":
            continue
        cell = _CELL[name](value) if name in ATTRIBUTES else None
        if cell is None:
            other[name] = value
        else:
            cells[name] = cell
    hash_value = record.get("hash")
    cells.update(
        hash=hash_value if isinstance(hash_value, str) else "",
        legal_hold="true" if hold_ids else "false",
        hold_ids=" ".join(hold_ids),
        other=_other_cell(other),
        row_kind="record",
    )
    return [cells[c] for c in COLUMNS]


def stub_row(sequence: int, prevhash: str, hash_: str, hold_ids: Sequence[str] = ()) -> list[Any]:
    """The cells standing for a record left out of the file: its position and links only."""
    cells: dict[str, Any] = dict.fromkeys(COLUMNS, "")
    cells.update(
        sequence=str(sequence),
        prevhash=prevhash,
        hash=hash_,
        legal_hold="true" if hold_ids else "false",
        hold_ids=" ".join(hold_ids),
        row_kind="stub",
    )
    return [cells[c] for c in COLUMNS]


class RowError(ValueError):
    """A row cannot be read back as a record (its cells break the format)."""


def rebuilt_record(row: Sequence[str]) -> dict[str, Any]:
    """The record that was hashed, rebuilt from a row by the rule in the module docstring.

    Raises :class:`RowError` when a cell breaks the format."""
    record: dict[str, Any] = {}
    for name in ATTRIBUTES:
        cell = row[INDEX[name]]
        if cell == "":
            continue
        if name in INTEGER_ATTRIBUTES:
            if not _CANONICAL_UINT.fullmatch(cell):
                raise RowError(f"{name} is not an integer: {cell[:40]!r}")
            record[name] = int(cell)
        elif name in JSON_ATTRIBUTES:
            record[name] = _loads(cell, name)
        else:
            record[name] = cell
    if row[INDEX["other"]]:
        other = _loads(row[INDEX["other"]], "other")
        if not isinstance(other, dict) or set(other) & set(record):
            raise RowError("other must be a JSON object naming only attributes whose cells are empty")
        record.update(other)
    return record


def _loads(text: str, name: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as err:
        raise RowError(f"{name} is not JSON: {err}") from err


_encode_string = json.encoder.encode_basestring  # C; equals RFC 8785 for UTF-8 text


# (column index, '"name":', cell is raw JSON) for each hashed attribute, in RFC 8785 member order
_SPLICE = tuple((INDEX[n], f'"{n}":', n in INTEGER_ATTRIBUTES or n in JSON_ATTRIBUTES) for n in HASHED_ORDER)


def canonical_text(row: Sequence[str]) -> str:
    """RFC 8785 text of the rebuilt record, spliced from the cells without building it.

    Equal to ``jcs(rebuilt_record(row))`` for rows whose ``other`` is empty and whose
    ``data`` cell is RFC 8785 text (as the exporter writes it); the verifier checks the
    ``data`` cell is one JSON value and the integer cells are integers before trusting it."""
    enc = _encode_string
    return "{" + ",".join([key + (cell if raw else enc(cell)) for i, key, raw in _SPLICE if (cell := row[i])]) + "}"
