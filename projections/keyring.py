"""Per-subject data keys in PostgreSQL (``subject_keys``), wrapped under the KEK from the settings.

The writer of a personal field asks :meth:`Keyring.sealing_key` (made on first use); the
read-model writer asks :meth:`Keyring.unseal` (None once destroyed); erasure calls
:meth:`Keyring.destroy`. A data key is AES-256 (``schemas/sealing.py``), stored wrapped with
AES key wrap (RFC 3394) under ``SKILLMIND_PRIVACY__KEK``; the table is not a read model, so
a replay never drops it, and a destroyed key is gone for every replay after.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from typing import Any

import psycopg
import structlog

from projections.errors import KeyringError, SubjectErasedError
from schemas import sealing

log = structlog.get_logger(__name__)


def kek_id(kek: bytes) -> str:
    """The name of a key-encryption key: the first 16 hex characters of its SHA-256."""
    return hashlib.sha256(kek).hexdigest()[:16]


class Keyring:
    """Data keys of subjects, one per (tenant, subject), wrapped under ``kek`` (32 bytes)."""

    def __init__(self, kek: bytes) -> None:
        if len(kek) != sealing.KEY_BYTES:
            raise KeyringError(f"the key-encryption key is {sealing.KEY_BYTES} bytes, not {len(kek)}")
        self._kek, self.kek_id = kek, kek_id(kek)

    def sealing_key(self, conn: psycopg.Connection[Any], tenant: str, subject: str) -> tuple[str, bytes]:
        """``(kid, key)`` of the subject's data key, made and stored (committed) on first use.

        Raises :class:`SubjectErasedError` when it was destroyed, :class:`KeyringError` when it
        was wrapped under another KEK."""
        fresh = sealing.new_data_key()
        with conn.transaction():
            conn.execute(
                "insert into subject_keys (tenant_id, subject_id, kid, kek_id, wrapped_key) "
                "values (%s, %s, %s, %s, %s) on conflict (tenant_id, subject_id) do nothing",
                [tenant, subject, secrets.token_hex(8), self.kek_id, sealing.wrap_key(self._kek, fresh)],
            )
            row = conn.execute(
                "select kid, kek_id, wrapped_key from subject_keys where tenant_id = %s and subject_id = %s",
                [tenant, subject],
            ).fetchone()
        if row is None or row[2] is None:
            raise SubjectErasedError(f"subject {subject!r} of tenant {tenant!r} was erased")
        return row[0], self._unwrap(row[1], row[2])

    def _unwrap(self, kek_name: str, wrapped: bytes) -> bytes:
        if kek_name != self.kek_id:
            raise KeyringError(f"a data key is wrapped under KEK {kek_name}, the settings hold {self.kek_id}")
        try:
            return sealing.unwrap_key(self._kek, bytes(wrapped))
        except sealing.SealError as err:
            raise KeyringError(str(err)) from err

    def unseal(
        self, conn: psycopg.Connection[Any], tenant: str, subject: str, envelope: Mapping[str, Any], event_type: str
    ) -> dict[str, Any] | None:
        """The fields sealed in ``envelope`` about ``subject``, or None when they can no longer
        be read: the key is destroyed or absent, or the tag does not verify (logged).

        Raises :class:`KeyringError` when the key exists but is wrapped under another KEK: a
        misconfiguration, not an erasure, so it must stop the reader rather than blank data."""
        row = conn.execute(
            "select kek_id, wrapped_key from subject_keys where tenant_id = %s and subject_id = %s and kid = %s",
            [tenant, subject, envelope.get("kid")],
        ).fetchone()
        if row is None or row[1] is None:
            return None
        try:
            return sealing.open_sealed(self._unwrap(row[0], row[1]), envelope, sealing.aad(tenant, subject, event_type))
        except sealing.SealError as err:
            log.warning("keyring.unreadable", tenant=tenant, subject=subject, error=str(err))
            return None

    def destroy(self, conn: psycopg.Connection[Any], tenant: str, subject: str) -> bool:
        """Destroy the subject's data key (crypto-shredding); True when a key was destroyed now.

        The key is overwritten with null in a committed transaction; PostgreSQL's old row
        versions go with the next vacuum (``vacuum subject_keys`` to hasten it). A subject
        without a key gets a destroyed row, so no key is ever made for them later."""
        with conn.transaction():
            destroyed = conn.execute(
                "update subject_keys set wrapped_key = null, destroyed_at = now() "
                "where tenant_id = %s and subject_id = %s and wrapped_key is not null",
                [tenant, subject],
            ).rowcount
            conn.execute(
                "insert into subject_keys (tenant_id, subject_id, kid, kek_id, wrapped_key, destroyed_at) "
                "values (%s, %s, %s, %s, null, now()) on conflict (tenant_id, subject_id) do nothing",
                [tenant, subject, secrets.token_hex(8), self.kek_id],
            )
        log.info("keyring.destroyed", tenant=tenant, subject=subject, destroyed=bool(destroyed))
        return bool(destroyed)
