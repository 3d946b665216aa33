"""The crypto envelope of personal fields in the log: AES-256-GCM under a per-subject data key.

A writer *seals* a person's fields (``{"display_name": ..., "email": ...}``) before the
record is hashed and appended, so the log, its archive and every copy hold ciphertext only;
erasure destroys the data key (crypto-shredding) and the chain, which covers the
ciphertext, still verifies.

The envelope (``schemas.v2.Sealed``)::

    {"alg": "A256GCM", "kid": "<16 hex>", "nonce": "<base64url, 12 bytes>",
     "ciphertext": "<base64url of ciphertext ‖ 16-byte tag>"}

The plaintext is the RFC 8785 canonical JSON of the fields; the additional authenticated
data (:func:`aad`) binds the ciphertext to its tenant, subject and event type, so a sealed
value copied into another person's record does not open. The 96-bit nonce (NIST SP 800-38D
§5.2.1.1) is *synthetic*, as in SIV (RFC 5297 §2.4): HMAC-SHA-256, under a key derived from
the data key with HKDF (RFC 5869), of the AAD and the plaintext. The same fields under the
same key seal to the same envelope — an event sent twice is a duplicate, not a conflict —
and two different plaintexts share a nonce only by a 96-bit collision. What it reveals:
that two sealed values of the same subject are equal.

Pure: no I/O. Errors are :class:`SealError` with a reason, never a crash of the caller.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

ALG = "A256GCM"
KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # NIST SP 800-38D: 96-bit IVs
AAD_FORMAT = "skillmind-personal/1"


class SealError(ValueError):
    """A sealed value that cannot be opened: wrong key, tampered bytes, or not an envelope."""


def new_data_key() -> bytes:
    """A fresh random AES-256 data key (32 bytes)."""
    return AESGCM.generate_key(bit_length=256)


def aad(tenant: str, subject: str, event_type: str) -> bytes:
    """The additional authenticated data of a sealed value: format, tenant, subject and type,
    as the canonical JSON array ``["skillmind-personal/1", tenant, subject, type]``."""
    return rfc8785.dumps([AAD_FORMAT, tenant, subject, event_type])


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as err:
        raise SealError(f"not base64url: {err}") from err


def synthetic_nonce(key: bytes, plain: bytes, associated: bytes) -> bytes:
    """The 12-byte nonce of ``plain`` with ``associated`` under ``key`` (see the module docstring)."""
    nonce_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"skillmind-personal/1 nonce").derive(key)
    framed = len(associated).to_bytes(8, "big") + associated + plain
    return hmac.new(nonce_key, framed, hashlib.sha256).digest()[:NONCE_BYTES]


def seal(key: bytes, kid: str, fields: Mapping[str, Any], associated: bytes) -> dict[str, str]:
    """``fields`` sealed under ``key`` (named ``kid``) with AES-256-GCM: the envelope dict.

    Raises :class:`SealError` when ``key`` is not 32 bytes."""
    if len(key) != KEY_BYTES:
        raise SealError(f"a data key is {KEY_BYTES} bytes, not {len(key)}")
    plain = rfc8785.dumps(dict(fields))
    nonce = synthetic_nonce(key, plain, associated)
    ciphertext = AESGCM(key).encrypt(nonce, plain, associated)
    return {"alg": ALG, "kid": kid, "nonce": _b64(nonce), "ciphertext": _b64(ciphertext)}


def open_sealed(key: bytes, envelope: Mapping[str, Any], associated: bytes) -> dict[str, Any]:
    """The fields inside ``envelope``, authenticated against ``associated``.

    Raises :class:`SealError` for a key of the wrong size, an unknown ``alg``, a bad
    nonce, or a tag that does not verify (wrong key, tampered ciphertext or AAD)."""
    if len(key) != KEY_BYTES:
        raise SealError(f"a data key is {KEY_BYTES} bytes, not {len(key)}")
    if envelope.get("alg") != ALG:
        raise SealError(f"unknown alg {envelope.get('alg')!r}")
    nonce = _unb64(str(envelope.get("nonce", "")))
    if len(nonce) != NONCE_BYTES:
        raise SealError(f"a nonce is {NONCE_BYTES} bytes, not {len(nonce)}")
    try:
        plain = AESGCM(key).decrypt(nonce, _unb64(str(envelope.get("ciphertext", ""))), associated)
    except InvalidTag as err:
        raise SealError("the tag does not verify: wrong key or tampered ciphertext") from err
    try:
        fields = json.loads(plain)
    except ValueError as err:
        raise SealError("the plaintext is not JSON") from err
    if not isinstance(fields, dict):
        raise SealError("the plaintext is not a JSON object")
    return fields


def wrap_key(kek: bytes, key: bytes) -> bytes:
    """``key`` wrapped under the key-encryption key ``kek`` (AES key wrap, RFC 3394).

    Raises :class:`SealError` when either key has the wrong size."""
    try:
        return aes_key_wrap(kek, key)
    except ValueError as err:
        raise SealError(f"cannot wrap: {err}") from err


def unwrap_key(kek: bytes, wrapped: bytes) -> bytes:
    """The data key inside ``wrapped`` (RFC 3394 §2.2.3 integrity check).

    Raises :class:`SealError` when ``kek`` is not the key it was wrapped with, or the bytes
    were altered."""
    try:
        return aes_key_unwrap(kek, wrapped)
    except (InvalidUnwrap, ValueError) as err:
        raise SealError("cannot unwrap the data key: wrong key-encryption key or altered bytes") from err
