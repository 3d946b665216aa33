"""The one CSV writer of the product: reports now, exports and audit exports next.

Two rules, for files people open in a spreadsheet:

* **Cells cannot become formulas** (OWASP "CSV Injection"): a text cell starting with
  ``=``, ``+``, ``-``, ``@``, a TAB or a CR gets a leading ``'``, which spreadsheets
  show as text. Numbers, booleans and empty cells are written as they are: ``-3`` the
  number stays ``-3``, while the text ``"-3"`` becomes ``'-3``.
* **A cell never splits a row**: RFC 4180 line endings (CRLF), so the writer quotes
  every field that holds a CR, an LF, a quote or the separator.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """The value to write for one cell: text that a spreadsheet would evaluate is neutralised."""
    if value.__class__ is str and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class CsvWriter:
    """Encode rows to CSV text, batch by batch (for streaming: constant memory)."""

    def __init__(self) -> None:
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)

    def rows(self, rows: Iterable[Sequence[Any]]) -> str:
        """The CSV text of ``rows``, every text cell neutralised."""
        self._buffer.seek(0)
        self._buffer.truncate()
        starts = FORMULA_STARTS  # the loop below runs once per cell: keep it tight
        self._writer.writerows(
            [("'" + v if v.__class__ is str and v.startswith(starts) else v) for v in row] for row in rows
        )
        return self._buffer.getvalue()
