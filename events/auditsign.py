"""Ed25519 signatures of audit statements: export manifests and chain checkpoints.

A statement is a JSON object with a ``format`` member naming what it is (so a signed
manifest can never pass for a checkpoint); the signature is Ed25519 over its RFC 8785
canonical JSON without the ``signature`` member, base64-encoded. Keys: the private key
is the base64 of its 32-byte seed (``SKILLMIND_AUDIT__SIGNING_KEY``, made by
``skillmind audit keygen``); the public key is published as PEM (SubjectPublicKeyInfo)
at ``GET /v1/audit/public-key``; ``key_id`` is the first 16 hex characters of SHA-256
over the raw 32-byte public key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from events.chain import jcs
from events.errors import LogError

CHECKPOINT_FORMAT = "skillmind-audit-checkpoint/1"


class SigningKeyError(LogError):
    """The configured audit signing key or a given public key cannot be read."""


def generate_private_key() -> str:
    """A new private key as the base64 of its 32-byte seed (what the settings hold)."""
    raw = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return base64.b64encode(raw).decode()


def load_private_key(seed_b64: str) -> Ed25519PrivateKey:
    """The key from the base64 of its 32-byte seed; :class:`SigningKeyError` when it is not one."""
    try:
        raw = base64.b64decode(seed_b64, validate=True)
    except (binascii.Error, ValueError) as err:
        raise SigningKeyError("the audit signing key is not base64; make one with `skillmind audit keygen`") from err
    if len(raw) != 32:
        raise SigningKeyError(f"the audit signing key is {len(raw)} bytes; an Ed25519 seed is 32")
    return Ed25519PrivateKey.from_private_bytes(raw)


def public_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def load_public_pem(pem: bytes) -> Ed25519PublicKey:
    """A public key from PEM; :class:`SigningKeyError` unless it is an Ed25519 one."""
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError as err:
        raise SigningKeyError(f"not a PEM public key: {err}") from err
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError("the public key is not an Ed25519 key")
    return key


def key_id(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def signed_bytes(statement: Mapping[str, Any]) -> bytes:
    """What is signed: RFC 8785 JSON of the statement without its ``signature``."""
    return jcs({k: v for k, v in statement.items() if k != "signature"})


def sign(key: Ed25519PrivateKey, statement: Mapping[str, Any]) -> str:
    """Base64 Ed25519 signature of ``statement`` (its ``signature`` member ignored)."""
    return base64.b64encode(key.sign(signed_bytes(statement))).decode()


def signature_valid(key: Ed25519PublicKey, statement: Mapping[str, Any], signature: str) -> bool:
    try:
        key.verify(base64.b64decode(signature, validate=True), signed_bytes(statement))
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def checkpoint_statement(tenant: str, sequence: int, head_hash: str) -> dict[str, Any]:
    """The statement an ``audit.checkpoint`` signs: tenant ``tenant``'s record ``sequence`` has ``head_hash``."""
    return {"format": CHECKPOINT_FORMAT, "tenant": tenant, "sequence": sequence, "hash": head_hash}


def checkpoint_data(key: Ed25519PrivateKey, tenant: str, sequence: int, head_hash: str) -> dict[str, Any]:
    """The ``data`` of an ``audit.checkpoint`` event for this head."""
    return {
        "tenant_id": tenant,
        "sequence": sequence,
        "head_hash": head_hash,
        "key_id": key_id(key.public_key()),
        "signature": sign(key, checkpoint_statement(tenant, sequence, head_hash)),
    }


def checkpoint_valid(key: Ed25519PublicKey, data: Mapping[str, Any]) -> bool:
    """The checkpoint ``data`` is signed by ``key``."""
    statement = checkpoint_statement(data["tenant_id"], data["sequence"], data["head_hash"])
    return signature_valid(key, statement, data["signature"])
