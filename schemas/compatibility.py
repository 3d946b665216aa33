"""Would a new JSON Schema break a consumer that validates with the old one?

A consumer holding the old schema must accept every record valid under the new one
(forward compatibility). These rules catch the ways that fails for our flat,
closed schemas; each returned string says what broke and where.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

_LOOSER_IF_LOWER = ("minimum", "exclusiveMinimum", "minLength", "minItems")
_LOOSER_IF_HIGHER = ("maximum", "exclusiveMaximum", "maxLength", "maxItems")


def _types(schema: Schema) -> set[str]:
    if "type" in schema:
        kind = schema["type"]
        return set(kind) if isinstance(kind, list) else {kind}
    return {t for option in schema.get("anyOf", []) for t in _types(option)}


def breaking_changes(old: Schema, new: Schema, path: str = "data") -> list[str]:
    problems: list[str] = []
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    old_closed = old.get("additionalProperties") is False
    for name in sorted(set(new_props) - set(old_props)):
        if old_closed:
            problems.append(f"{path}.{name}: new field, but old consumers refuse unknown fields")
    for name in sorted(set(old.get("required", [])) - set(new.get("required", []))):
        problems.append(f"{path}.{name}: no longer required, but old consumers require it")
    if old_closed and new.get("additionalProperties") is not False:
        problems.append(f"{path}: now open to unknown fields, old consumers refuse them")
    for name in sorted(set(old_props) & set(new_props)):
        problems += _field_changes(old_props[name], new_props[name], f"{path}.{name}")
    return problems


def _field_changes(old: Schema, new: Schema, path: str) -> list[str]:
    problems = []
    widened = _types(new) - _types(old)
    if _types(old) and widened:
        problems.append(f"{path}: type widened by {sorted(widened)}")
    for key in _LOOSER_IF_LOWER:
        if key in old and (key not in new or new[key] < old[key]):
            problems.append(f"{path}: {key} loosened from {old[key]} to {new.get(key)}")
    for key in _LOOSER_IF_HIGHER:
        if key in old and (key not in new or new[key] > old[key]):
            problems.append(f"{path}: {key} loosened from {old[key]} to {new.get(key)}")
    if "pattern" in old and new.get("pattern") != old["pattern"]:
        problems.append(f"{path}: pattern changed from {old['pattern']!r}")
    if "enum" in old and not set(new.get("enum", [object()])) <= set(old["enum"]):
        problems.append(f"{path}: enum gained values {sorted(set(new.get('enum', [])) - set(old['enum']))}")
    if "items" in old or "items" in new:
        problems += _field_changes(old.get("items", {}), new.get("items", {}), f"{path}[]")
    return problems
