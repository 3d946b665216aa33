"""The crypto envelope of personal fields (schemas/sealing.py) and its place in the contract."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import sealing
from schemas.examples import EXAMPLE_DATA, cloud_event
from schemas.v2 import UserRegistered
from schemas.validation import Invalid, Valid, validate_event, validate_log_record

texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=200)
fields = st.fixed_dictionaries({"display_name": texts, "email": texts})
keys = st.binary(min_size=32, max_size=32)
ids = st.text("abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=40)


@settings(max_examples=200)
@given(keys, fields, ids, ids)
def test_a_sealed_value_opens_with_its_key_and_aad(
    key: bytes, plain: dict[str, str], tenant: str, subject: str
) -> None:
    aad = sealing.aad(tenant, subject, "user.registered")
    envelope = sealing.seal(key, "0123456789abcdef", plain, aad)
    assert sealing.open_sealed(key, envelope, aad) == plain
    assert envelope["alg"] == "A256GCM" and envelope["kid"] == "0123456789abcdef"


@settings(max_examples=100)
@given(keys, keys, fields)
def test_a_wrong_key_is_a_clear_error(key: bytes, other: bytes, plain: dict[str, str]) -> None:
    aad = sealing.aad("acme", "u1", "user.registered")
    envelope = sealing.seal(key, "0123456789abcdef", plain, aad)
    if other != key:
        with pytest.raises(sealing.SealError, match="tag does not verify"):
            sealing.open_sealed(other, envelope, aad)


@settings(max_examples=100)
@given(keys, fields, st.data())
def test_tampered_ciphertext_nonce_or_aad_is_a_clear_error(
    key: bytes, plain: dict[str, str], data: st.DataObject
) -> None:
    aad = sealing.aad("acme", "u1", "user.registered")
    envelope = sealing.seal(key, "0123456789abcdef", plain, aad)
    raw = bytearray(base64.urlsafe_b64decode(envelope["ciphertext"] + "=" * (-len(envelope["ciphertext"]) % 4)))
    at = data.draw(st.integers(0, len(raw) - 1))
    raw[at] ^= data.draw(st.integers(1, 255))
    tampered = {**envelope, "ciphertext": base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")}
    with pytest.raises(sealing.SealError):
        sealing.open_sealed(key, tampered, aad)
    with pytest.raises(sealing.SealError):  # the same value in another person's record
        sealing.open_sealed(key, envelope, sealing.aad("acme", "u2", "user.registered"))


@pytest.mark.parametrize(
    "envelope",
    [
        {"alg": "none", "nonce": "AAAAAAAAAAAAAAAA", "ciphertext": "AAAA"},
        {"alg": "A256GCM", "nonce": "AAAA", "ciphertext": "AAAAAAAAAAAAAAAAAAAAAAAA"},
        {"alg": "A256GCM", "nonce": "!!!!", "ciphertext": "AAAA"},
        {"alg": "A256GCM", "nonce": "AAAAAAAAAAAAAAAA", "ciphertext": ""},
        {},
    ],
)
def test_garbage_envelopes_are_a_seal_error_not_a_crash(envelope: dict[str, str]) -> None:
    with pytest.raises(sealing.SealError):
        sealing.open_sealed(bytes(32), envelope, b"")


@given(keys, keys)
def test_key_wrap_roundtrips_and_refuses_another_kek(kek: bytes, key: bytes) -> None:
    wrapped = sealing.wrap_key(kek, key)
    assert len(wrapped) == 40 and sealing.unwrap_key(kek, wrapped) == key
    other = bytes(b ^ 1 for b in kek)
    with pytest.raises(sealing.SealError, match="wrong key-encryption key"):
        sealing.unwrap_key(other, wrapped)


def test_wrong_key_sizes_are_seal_errors() -> None:
    with pytest.raises(sealing.SealError):
        sealing.seal(b"short", "0123456789abcdef", {}, b"")
    with pytest.raises(sealing.SealError):
        sealing.wrap_key(b"short", bytes(32))


def _sealed_user() -> dict[str, object]:
    key = sealing.new_data_key()
    personal = sealing.seal(
        key,
        "0123456789abcdef",
        {"display_name": "Ada", "email": "a@x.example"},
        sealing.aad("acme", "u1", "user.registered"),
    )
    return {"user_id": "u1", "roles": ["learner"], "personal": personal}


def test_the_door_takes_sealed_v2_and_refuses_plaintext_v2() -> None:
    sealed = {**cloud_event("user.registered", _sealed_user(), tenant="acme"), "schemaversion": 2}
    assert isinstance(validate_event(sealed), Valid)
    plain = {"user_id": "u1", "roles": [], "personal": {"alg": "none", "display_name": "Ada", "email": "a@x.example"}}
    refused = validate_event({**sealed, "data": plain})
    assert isinstance(refused, Invalid) and "personal_not_sealed" in refused.reason


def test_a_v1_record_reads_as_v2_with_its_plaintext_marked_unsealed() -> None:
    record = {
        **cloud_event("user.registered", EXAMPLE_DATA["user.registered"], tenant="acme"),
        "schemaversion": 1,
        "sequence": 1,
        "appendedat": "2026-11-27T10:00:00Z",
        "prevhash": "0" * 64,
        "hash": "1" * 64,
    }
    judged = validate_log_record(record)
    assert isinstance(judged, Valid) and isinstance(judged.data, UserRegistered)
    assert judged.data.personal.alg == "none" and judged.data.personal.display_name == "Ada Lovelace"


@given(keys, fields)
def test_sealing_is_deterministic_so_a_resent_event_is_a_duplicate(key: bytes, plain: dict[str, str]) -> None:
    aad = sealing.aad("acme", "u1", "user.registered")
    assert sealing.seal(key, "0123456789abcdef", plain, aad) == sealing.seal(key, "0123456789abcdef", plain, aad)
    other = {**plain, "email": plain["email"] + "x"}
    assert sealing.seal(key, "k", plain, aad)["nonce"] != sealing.seal(key, "k", other, aad)["nonce"]
