"""Which model validates which (type, schemaversion), and how old versions are upcast.

A published schema never changes incompatibly: a new version gets a new model and
an upcaster from the previous version, applied when old records are read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from schemas import v1, v2
from schemas.types import EventData

Data = dict[str, Any]
Upcaster = Callable[[Data], Data]

MODELS: dict[tuple[str, int], type[EventData]] = {(m.TYPE, m.VERSION): m for m in (*v1.MODELS, *v2.MODELS)}

# (type, from_version) -> function turning that version's data into from_version + 1.
UPCASTERS: dict[tuple[str, int], Upcaster] = {**v2.UPCASTERS}


# The latest version of each type of MODELS (every log record asks; computed once).
_LATEST: dict[str, int] = {}
for _type, _version in MODELS:
    _LATEST[_type] = max(_version, _LATEST.get(_type, 0))


def latest_version(event_type: str, models: Mapping[tuple[str, int], type[EventData]] = MODELS) -> int:
    if models is MODELS and event_type in _LATEST:
        return _LATEST[event_type]
    versions = [v for (t, v) in models if t == event_type]
    if not versions:
        raise KeyError(event_type)
    return max(versions)


def event_types(models: Mapping[tuple[str, int], type[EventData]] = MODELS) -> list[str]:
    return sorted({t for t, _ in models})


def upcast(
    event_type: str,
    version: int,
    data: Data,
    *,
    models: Mapping[tuple[str, int], type[EventData]] = MODELS,
    upcasters: Mapping[tuple[str, int], Upcaster] = UPCASTERS,
) -> tuple[int, Data]:
    """Bring ``data`` of an old version up to the latest one, one step at a time."""
    target = latest_version(event_type, models)
    while version < target:
        step = upcasters.get((event_type, version))
        if step is None:
            raise LookupError(f"no upcaster for {event_type} v{version} -> v{version + 1}")
        data = step(data)
        version += 1
    return version, data
