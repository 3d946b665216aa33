"""CSV cells are safe in a spreadsheet and survive a round trip through csv.reader."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.csv_writer import FORMULA_STARTS, CsvWriter, safe_cell


def _read(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


@pytest.mark.parametrize("text", ["=1+1", "+41", "-2", "@SUM(A1)", "\t=1", "\r=1", '=HYPERLINK("http://x")'])
def test_formula_starts_are_neutralised(text: str) -> None:
    assert _read(CsvWriter().rows([[text]])) == [["'" + text]]


@pytest.mark.parametrize(("value", "written"), [(-3, "-3"), (Decimal("-0.5"), "-0.5"), (2.5, "2.5"), (None, "")])
def test_numbers_and_empty_cells_are_untouched(value: object, written: str) -> None:
    assert _read(CsvWriter().rows([[value]])) == [[written]]


def test_a_bare_cr_or_lf_never_splits_a_row() -> None:
    text = CsvWriter().rows([["a\rb", "c\nd", 'q"uote', "se,p"], ["next", "row", "", "x"]])
    assert _read(text) == [["a\rb", "c\nd", 'q"uote', "se,p"], ["next", "row", "", "x"]]


cells = st.one_of(st.text(), st.integers(), st.none(), st.decimals(allow_nan=False, allow_infinity=False))


@given(st.lists(st.lists(cells, min_size=1, max_size=5), min_size=1, max_size=5))
def test_round_trip(rows: list[list[object]]) -> None:
    writer = CsvWriter()
    text = "".join(writer.rows([row]) for row in rows)  # batch by batch, as streamed
    assert _read(text) == [["" if v is None else str(safe_cell(v)) for v in row] for row in rows]
    for row, read in zip(rows, _read(text), strict=True):
        for value, cell in zip(row, read, strict=True):
            assert not (isinstance(value, str) and cell.startswith(FORMULA_STARTS))
