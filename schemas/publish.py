"""Generate the published contract from the models: one JSON Schema per (type, version),
the log record envelope, and the AsyncAPI 3.0 catalogue of topics.

``skillmind schemas publish`` writes them under ``schemas/json`` and
``schemas/asyncapi.json``; ``--check`` (and a test) fails when the files differ from
the models, and publishing refuses a change that would break existing consumers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from schemas.compatibility import breaking_changes
from schemas.envelope import BATCH_CONTENT_TYPE, CONTENT_TYPE, LogRecord
from schemas.examples import EXAMPLE_DATA
from schemas.registry import MODELS
from schemas.types import EventData

ROOT = Path(__file__).parent
JSON_DIR = ROOT / "json"


def data_schema(model: type[EventData]) -> dict[str, Any]:
    schema = model.model_json_schema(mode="validation")
    schema.update(
        {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"urn:skillmind:schema:{model.TYPE}:v{model.VERSION}",
            "title": f"{model.TYPE} v{model.VERSION}",
            "x-kind": model.KIND,
            "examples": [EXAMPLE_DATA[model.TYPE]] if model.VERSION == 1 else [],
        }
    )
    return schema


def envelope_schema() -> dict[str, Any]:
    schema = LogRecord.model_json_schema(mode="serialization")
    schema.update(
        {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "urn:skillmind:schema:log-record:v1",
            "title": "A record of skillmind.log.v1 (CloudEvents 1.0, structured mode)",
        }
    )
    return schema


def _topic(address: str, description: str, messages: dict[str, Any]) -> dict[str, Any]:
    return {
        "address": address,
        "description": description,
        "messages": {name: {"$ref": f"#/components/messages/{name}"} for name in messages},
        "bindings": {
            "kafka": {
                "partitions": 6,
                "topicConfiguration": {
                    "cleanup.policy": ["delete"],
                    "retention.ms": -1,
                    "retention.bytes": -1,
                },
            }
        },
    }


def asyncapi() -> dict[str, Any]:
    messages: dict[str, Any] = {}
    schemas: dict[str, Any] = {"LogRecord": envelope_schema()}
    for (event_type, version), model in sorted(MODELS.items()):
        name = f"{event_type}.v{version}"
        schemas[name] = data_schema(model)
        messages[name] = {
            "name": name,
            "title": f"{event_type} (schema version {version})",
            "summary": (model.__doc__ or "").strip().splitlines()[0],
            "contentType": CONTENT_TYPE,
            "payload": {
                "allOf": [
                    {"$ref": "#/components/schemas/LogRecord"},
                    {
                        "properties": {
                            "type": {"const": event_type},
                            "schemaversion": {"const": version},
                            "data": {"$ref": f"#/components/schemas/{name}"},
                        }
                    },
                ]
            },
            "bindings": {"kafka": {"key": {"type": "string", "description": "the tenant id"}}},
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "SkillMind Analytics event log",
            "version": "1.0.0",
            "description": (
                "Every learner event and mutation, as CloudEvents 1.0 JSON. Records are keyed by "
                "tenant id with Kafka's default (murmur2) partitioner, so one tenant's history is "
                "one ordered partition. `sequence` is gap-free per tenant; `hash` = SHA-256(prevhash "
                "‖ RFC 8785 JSON of the record without `hash`). Read with isolation.level="
                "read_committed. A schema never changes incompatibly: new versions get a new "
                "`schemaversion`."
            ),
        },
        "defaultContentType": CONTENT_TYPE,
        "servers": {
            "local": {
                "host": "127.0.0.1:19092",
                "protocol": "kafka",
                "description": "the no-Docker development broker",
            }
        },
        "channels": {
            "log": _topic("skillmind.log.v1", "The canonical, sequenced, hash-chained log.", messages),
            "inbox": _topic(
                "skillmind.inbox.v1",
                f"What writers append (same events, without the log attributes; "
                f"HTTP ingest takes {CONTENT_TYPE} or {BATCH_CONTENT_TYPE}).",
                messages,
            ),
            "dead-letter": {
                "address": "skillmind.dead-letter.v1",
                "description": "Refused records: reason, problems, source topic/partition/"
                "offset, original bytes (base64).",
            },
        },
        "operations": {
            "consumeLog": {"action": "receive", "channel": {"$ref": "#/channels/log"}},
            "appendToInbox": {"action": "send", "channel": {"$ref": "#/channels/inbox"}},
        },
        "components": {"schemas": schemas, "messages": messages},
    }


def rendered() -> dict[Path, str]:
    """Every published file, path → content."""
    files = {JSON_DIR / t / f"v{v}.json": data_schema(m) for (t, v), m in MODELS.items()}
    files[JSON_DIR / "log-record" / "v1.json"] = envelope_schema()
    files[ROOT / "asyncapi.json"] = asyncapi()
    return {path: json.dumps(body, indent=2, sort_keys=True, ensure_ascii=False) + "\n" for path, body in files.items()}


def stale_files() -> list[Path]:
    return [p for p, text in rendered().items() if not p.exists() or p.read_text() != text]


def publish() -> list[Path]:
    """Write what changed; refuse changes that would break consumers of a published version."""
    problems = []
    for path in stale_files():
        if path.exists() and path.parent.parent == JSON_DIR and path.parent.name != "log-record":
            old, new = json.loads(path.read_text()), json.loads(rendered()[path])
            problems += [f"{path.parent.name} {path.stem}: {p}" for p in breaking_changes(old, new)]
    if problems:
        raise ValueError(
            "these changes would break consumers of published schemas; add a new schema version "
            "(and an upcaster from the old one) instead:\n  " + "\n  ".join(problems)
        )
    written = []
    for path in stale_files():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rendered()[path])
        written.append(path)
    return written
