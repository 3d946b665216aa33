"""The CloudEvents 1.0 structured-mode envelope every record of the log wears."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.types import MAX_SAFE_INTEGER, Id, Int, UtcTime, text

CONTENT_TYPE = "application/cloudevents+json"
BATCH_CONTENT_TYPE = "application/cloudevents-batch+json"

# Attributes only the log may set; a client that sends them is refused, not overridden,
# so nobody can believe they chose a sequence number or a hash.
LOG_ATTRIBUTES = ("sequence", "appendedat", "prevhash", "hash")


class Envelope(BaseModel):
    """What a writer sends. ``data`` is validated separately against ``type``/``schemaversion``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    specversion: Literal["1.0"]
    id: Id = Field(description="Idempotency key, unique per tenant (the id alphabet, 1 to 128 characters).")
    source: text(512, description="URI-reference of the producer, 1 to 512 characters.")  # type: ignore[valid-type]
    type: str = Field(min_length=1, max_length=128, pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
    time: UtcTime
    subject: text(256) | None = None  # type: ignore[valid-type]
    datacontenttype: Literal["application/json"] = "application/json"
    dataschema: text(512) | None = None  # type: ignore[valid-type]
    data: dict[str, Any]
    tenantid: Id
    schemaversion: Int = Field(1, ge=1, le=1000)
    actor: Id | None = None


class LogRecord(Envelope):
    """A record of ``skillmind.log.v1``: the envelope plus what the sequencer adds."""

    sequence: Int = Field(ge=1, le=MAX_SAFE_INTEGER, description="Per-tenant position, gap-free from 1.")
    appendedat: UtcTime
    prevhash: str = Field(pattern=r"^[0-9a-f]{64}$")
    hash: str = Field(pattern=r"^[0-9a-f]{64}$")
