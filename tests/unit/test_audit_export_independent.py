"""An independent check of an audit export, written from the README alone.

The row verifier is the README's own snippet (extracted and run as a script); the
signature is checked here with ``cryptography`` and ``rfc8785`` as the README describes.
Neither imports any code of ours: only the export under test is made by our writer.
"""

from __future__ import annotations

import ast
import base64
import csv
import hashlib
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import rfc8785
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from api.audit_export import ExportRange, write_audit_export
from events.auditsign import load_private_key, public_pem
from skillmind.settings import DEFAULT_AUDIT_SIGNING_KEY
from tests.unit.auditlog import chain

README = Path(__file__).resolve().parents[2] / "README.md"
SNIPPET = re.compile(r"<!-- independent-verifier -->\s*```python\n(.*?)```", re.S)


def readme_verifier(tmp_path: Path) -> Path:
    code = SNIPPET.search(README.read_text()).group(1)  # type: ignore[union-attr]
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(ast.parse(code))
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in getattr(node, "names", [])
    }
    assert imported <= {"csv", "hashlib", "json", "sys", "rfc8785"}, imported
    path = tmp_path / "verify_rows.py"
    path.write_text(code)
    return path


def make_export(tmp_path: Path, first: int, last: int) -> tuple[Path, Path, Path]:
    key = load_private_key(DEFAULT_AUDIT_SIGNING_KEY)
    out = io.BytesIO()
    manifest = write_audit_export(
        chain("acme", 30), out, tenant="acme", scope=ExportRange(first, last), signing_key=key
    )
    paths = tmp_path / "export.csv", tmp_path / "manifest.json", tmp_path / "audit-public.pem"
    paths[0].write_bytes(out.getvalue())
    paths[1].write_text(json.dumps(manifest, indent=2))
    paths[2].write_text(public_pem(key.public_key()))
    return paths


def run(script: Path, export: Path, manifest: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(script), str(export), str(manifest)], capture_output=True, text=True, check=False
    )


def signature_holds(manifest_path: Path, key_path: Path) -> bool:
    manifest = json.loads(manifest_path.read_text())
    signed = rfc8785.dumps({k: v for k, v in manifest.items() if k != "signature"})
    try:
        load_pem_public_key(key_path.read_bytes()).verify(base64.b64decode(manifest["signature"]), signed)  # type: ignore[union-attr]
    except Exception:  # any failure to verify is a "no"
        return False
    return True


def test_the_readme_alone_verifies_an_export_and_its_signature(tmp_path: Path) -> None:
    export, manifest, key = make_export(tmp_path, 1, 30)
    result = run(readme_verifier(tmp_path), export, manifest)
    assert result.returncode == 0 and "30 rows verified" in result.stdout, result.stderr
    assert signature_holds(manifest, key)
    assert hashlib.sha256(export.read_bytes()).hexdigest() == json.loads(manifest.read_text())["csv_sha256"]


def test_the_readme_alone_verifies_a_range_starting_mid_chain(tmp_path: Path) -> None:
    export, manifest, _ = make_export(tmp_path, 11, 22)
    result = run(readme_verifier(tmp_path), export, manifest)
    assert result.returncode == 0 and "12 rows verified" in result.stdout, result.stderr


def test_the_readme_alone_catches_an_edited_record_and_an_edited_manifest(tmp_path: Path) -> None:
    export, manifest, key = make_export(tmp_path, 1, 30)
    rows = list(csv.reader(io.StringIO(export.read_text(encoding="utf-8"), newline="")))
    rows[8][7] = rows[8][7].replace("l", "k", 1)  # the data cell of sequence 8
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    export.write_text(buffer.getvalue(), encoding="utf-8", newline="")
    result = run(readme_verifier(tmp_path), export, manifest)
    assert result.returncode != 0 and "bad hash at 8" in result.stderr
    doctored = json.loads(manifest.read_text()) | {"row_count": 29}
    manifest.write_text(json.dumps(doctored))
    assert not signature_holds(manifest, key)
