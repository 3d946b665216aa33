"""One tenant's records from the log, decoded, in sequence order (the audit export's input)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from events.partitioning import partition_for
from events.reader import partitions_of, read_to_end
from events.topics import topic_name
from skillmind.settings import KafkaSettings


def tenant_records(kafka: KafkaSettings, tenant: str, *, start_offset: int | None = None) -> Iterator[dict[str, Any]]:
    """Every committed record of ``tenant`` in its log partition, up to the current end.

    Records are keyed by tenant, so one partition holds the whole chain in order. Values
    that are not JSON objects are skipped: the sequencer never chains them, so they are no
    part of the tenant's chain (a consumer that checks the chain still sees any gap)."""
    topic = topic_name(kafka, "log")
    partition = partition_for(tenant, len(partitions_of(kafka, topic)))
    kwargs = {} if start_offset is None else {"start_offset": start_offset}
    key = tenant.encode()
    for message in read_to_end(kafka, topic, [partition], **kwargs):
        if message.key() != key:
            continue
        try:
            record = json.loads(message.value() or b"")
        except (TypeError, ValueError):
            record = None
        if isinstance(record, dict):
            yield record
