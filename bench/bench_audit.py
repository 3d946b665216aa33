"""Throughput of ``skillmind audit verify-export`` against plain SHA-256 of the same bytes.

    .venv/bin/python -m bench.bench_audit --records 1400000

Needs no service: one tenant's generated history (the demo's event mix) is sequenced and
chained in memory, written as an audit export with its signed manifest, then verified.
The baseline, measured in the same run on the same file, is plain SHA-256 of its bytes
(``hashlib``, 1 MiB reads): the least any verifier must do. Prints records/s and the ratio.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import itertools
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from api.audit_export import ExportRange, write_audit_export
from bench.common import Rate, report, timed
from events.auditsign import load_private_key
from events.auditverify import verify_export
from events.chain import GENESIS_HASH, record_hash
from skillmind.settings import DEFAULT_AUDIT_SIGNING_KEY
from skillmind.workload import Shape, history

TENANT = "acme"


def log_records(count: int) -> Iterator[dict[str, Any]]:
    """``count`` chained records of one tenant: the workload's events, numbered and hashed as
    the sequencer does (the events are repeated with fresh ids when the history runs out)."""
    events = itertools.cycle(list(history(Shape(tenant=TENANT, learners=400, days=56))))
    prevhash, appended = GENESIS_HASH, datetime(2026, 11, 28, tzinfo=UTC)
    for sequence, event in zip(range(1, count + 1), events, strict=False):
        record = {**event, "id": f"{event['id']}-{sequence}", "datacontenttype": "application/json"}
        stamp = (appended + timedelta(microseconds=sequence)).isoformat().replace("+00:00", "Z")
        record |= {"schemaversion": 1, "sequence": sequence, "appendedat": stamp, "prevhash": prevhash}
        record["hash"] = prevhash = record_hash(record)
        yield record


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb", buffering=0) as raw:
        while chunk := raw.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def csv_only(path: Path) -> int:
    with path.open(encoding="utf-8", newline="") as text:
        return sum(1 for _ in csv.reader(text))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_400_000)
    args = parser.parse_args()
    key = load_private_key(DEFAULT_AUDIT_SIGNING_KEY)
    manifest: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "export.csv"

        def write() -> None:
            with path.open("wb") as out:
                scope = ExportRange(1, args.records)
                manifest.update(
                    write_audit_export(log_records(args.records), out, tenant=TENANT, scope=scope, signing_key=key)
                )

        written = timed("generate + chain + write_audit_export", args.records, write)
        size = path.stat().st_size
        baseline = timed("plain SHA-256 of the CSV bytes", args.records, lambda: sha256_file(path))
        parsed = timed("csv.reader over the file, nothing else", args.records, lambda: csv_only(path))
        verdicts: list[Any] = []
        verified = timed(
            "verify-export (rows, links, hashes, file SHA-256, signature)",
            args.records,
            lambda: verdicts.append(verify_export(path, manifest, key.public_key())),
        )
        assert verdicts[0].ok, verdicts[0]
        print(f"{args.records:,} records, {size / 1e6:,.0f} MB ({size / args.records:,.0f} bytes/row)")
        rates: list[Rate] = [parsed, verified, written]
        print(report(rates, baseline))


if __name__ == "__main__":
    main()
