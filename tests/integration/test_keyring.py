"""The keyring against the real PostgreSQL: keys made once, wrapped under the KEK, destroyed for good."""

from __future__ import annotations

import psycopg
import pytest

from projections.errors import KeyringError, SubjectErasedError
from projections.keyring import Keyring
from schemas import sealing
from skillmind.settings import Settings

KEK, OTHER = bytes(range(32)), bytes(range(1, 33))


def test_a_key_is_made_once_opens_its_seal_and_is_gone_after_destroy(report_db: Settings) -> None:
    keyring = Keyring(KEK)
    with psycopg.connect(report_db.postgres.conninfo(), autocommit=True) as conn:
        kid, key = keyring.sealing_key(conn, "acme", "u1")
        assert keyring.sealing_key(conn, "acme", "u1") == (kid, key)
        assert keyring.sealing_key(conn, "acme", "u2")[0] != kid
        aad = sealing.aad("acme", "u1", "user.registered")
        envelope = sealing.seal(key, kid, {"display_name": "Ada", "email": "a@x.example"}, aad)
        assert keyring.unseal(conn, "acme", "u1", envelope, "user.registered") == {
            "display_name": "Ada",
            "email": "a@x.example",
        }
        assert keyring.unseal(conn, "acme", "u2", envelope, "user.registered") is None  # another person's key
        with pytest.raises(KeyringError, match="wrapped under KEK"):
            Keyring(OTHER).unseal(conn, "acme", "u1", envelope, "user.registered")
        stored = conn.execute("select wrapped_key from subject_keys where subject_id = 'u1'").fetchone()
        assert stored is not None and key not in bytes(stored[0])  # wrapped, never the key itself

        assert keyring.destroy(conn, "acme", "u1") and not keyring.destroy(conn, "acme", "u1")
        assert keyring.unseal(conn, "acme", "u1", envelope, "user.registered") is None
        with pytest.raises(SubjectErasedError):
            keyring.sealing_key(conn, "acme", "u1")
        assert not keyring.destroy(conn, "acme", "never-registered")
        with pytest.raises(SubjectErasedError):  # no key is ever made for an erased person
            keyring.sealing_key(conn, "acme", "never-registered")
