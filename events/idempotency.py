"""What an event id stands for: the digest of the content its writer chose.

An id is an idempotency key, so a repeat of an id is only harmless when it repeats the
same content. The digest covers the normalised record without what the log adds
(``sequence``, ``appendedat``, ``prevhash``, ``hash``) and without ``actor``, which the
API sets from the token rather than from the body: two people sending the same event
are sending a duplicate, not a conflict.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from events.chain import jcs, jcs_pair
from schemas.envelope import LOG_ATTRIBUTES

_NOT_CONTENT = frozenset((*LOG_ATTRIBUTES, "actor"))


def content_digest(record: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the JCS bytes of the writer's content of ``record``."""
    content = {k: v for k, v in record.items() if k not in _NOT_CONTENT}
    return hashlib.sha256(jcs(content)).hexdigest()


def encoded_with_digest(record: dict[str, Any]) -> tuple[bytes, str]:
    """``jcs(record)`` and ``content_digest(record)`` in one pass over the record. Raises
    ``ValueError`` as :func:`events.chain.jcs` does for a record JCS cannot encode."""
    content = {k: v for k, v in record.items() if k not in _NOT_CONTENT}
    whole, part = jcs_pair(record, content)
    return whole, hashlib.sha256(part).hexdigest()
