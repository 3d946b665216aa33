"""The fold of exports, notification preferences, webhooks and the in-app bell (issue 10).

Pure like ``facts.py``: ``record -> [Upsert]``. These tables merge by ``coalesce``: each
event fills in its part of a row (a null leaves the stored value), so an export's row
gathers its request, start, completion or failure, links and expiry in log order.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from projections import tables as t
from projections.tables import Table, Upsert
from schemas.types import parse_utc

Record = Mapping[str, Any]


def _at(text: str) -> datetime:
    return parse_utc(text)


def partial(table: Table, **values: Any) -> Upsert:
    """An upsert naming some columns; the others are None (kept, under ``coalesce``)."""
    return Upsert(table, {c: values.get(c) for c in table.columns})


def _export(r: Record, d: Mapping[str, Any], **values: Any) -> Upsert:
    return partial(t.EXPORTS, tenant_id=r["tenantid"], export_id=d["export_id"], **values)


def _requested(r: Record, d: Mapping[str, Any]) -> list[Upsert]:
    params = json.dumps(d["params"], sort_keys=True, separators=(",", ":"))
    return [
        _export(
            r,
            d,
            status="queued",
            format=d["format"],
            params=params,
            requested_by=d["requested_by"],
            roles=sorted(d["roles"]),
            requested_sequence=r["sequence"],
            requested_at=_at(r["appendedat"]),
        )
    ]


def _audit_requested(r: Record, d: Mapping[str, Any]) -> list[Upsert]:
    """An audit export is an export like the others, of format ``audit`` (CSV + signed manifest)."""
    params = json.dumps(d["range"], sort_keys=True, separators=(",", ":"))
    return [
        _export(
            r,
            d,
            status="queued",
            format="audit",
            params=params,
            requested_by=d["requested_by"],
            roles=sorted(d["roles"]),
            requested_sequence=r["sequence"],
            requested_at=_at(r["appendedat"]),
        )
    ]


def _started(r: Record, d: Mapping[str, Any]) -> list[Upsert]:
    return [_export(r, d, status="running", started_at=_at(r["appendedat"]))]


def bell(r: Record, user: str, export_id: str, title: str) -> Upsert:
    """The in-app notification of ``user`` for this log record (one per record and user)."""
    return partial(
        t.NOTIFICATIONS,
        tenant_id=r["tenantid"],
        notification_id=f"{r['sequence']}.{user}",
        user_id=user,
        sequence=r["sequence"],
        type=r["type"],
        export_id=export_id,
        title=title,
        created_at=_at(r["appendedat"]),
        read=False,
    )


def _completed(r: Record, d: Mapping[str, Any]) -> list[Upsert]:
    done = _export(
        r,
        d,
        status="ready",
        completed_at=_at(r["appendedat"]),
        object_key=d["object_key"],
        content_type=d["content_type"],
        size_bytes=d["size_bytes"],
        rows=d["rows"],
        sha256=d["sha256"],
        expires_at=_at(d["expires_at"]),
        manifest_key=d.get("manifest_key"),
        legal_hold=d.get("legal_hold", False),
        hold_ids=sorted(d.get("hold_ids", [])),
    )
    title = f"Your export {d['export_id']} is ready ({d['rows']} rows)"
    return [done, bell(r, d["requested_by"], d["export_id"], title)]


def _failed(r: Record, d: Mapping[str, Any]) -> list[Upsert]:
    title = f"Your export {d['export_id']} failed: {d['reason']}"[:200]
    return [_export(r, d, status="failed", reason=d["reason"]), bell(r, d["requested_by"], d["export_id"], title)]


def _expired(r: Record, d: Mapping[str, Any]) -> list[Upsert]:
    return [_export(r, d, status="expired", expired_at=_at(r["appendedat"]), reason=d["reason"])]


def _preferences(r: Record, d: Mapping[str, Any]) -> list[Upsert]:
    return [
        Upsert(t.NOTIFICATION_PREFERENCES, {"tenant_id": r["tenantid"], "user_id": d["user_id"], "email": d["email"]})
    ]


def _read(r: Record, d: Mapping[str, Any]) -> list[Upsert]:
    return [partial(t.NOTIFICATIONS, tenant_id=r["tenantid"], notification_id=d["notification_id"], read=True)]


def _webhook(r: Record, d: Mapping[str, Any], **values: Any) -> Upsert:
    return partial(t.WEBHOOKS, tenant_id=r["tenantid"], webhook_id=d["webhook_id"], **values)


def _subscribed(r: Record, d: Mapping[str, Any]) -> list[Upsert]:
    return [_webhook(r, d, url=d["url"], event_types=sorted(d["event_types"]), state="active")]


def _unsubscribed(r: Record, d: Mapping[str, Any]) -> list[Upsert]:
    return [_webhook(r, d, state="removed")]


def _disabled(r: Record, d: Mapping[str, Any]) -> list[Upsert]:
    return [_webhook(r, d, state="disabled", reason=d["reason"])]


def _capabilities(r: Record, d: Mapping[str, Any]) -> list[Upsert]:
    """v2 data (v1 is upcast on read): flags switch, roles restrict (empty list: anyone)."""
    names = sorted(set(d["flags"]) | set(d.get("roles", {})))
    return [
        partial(
            t.TENANT_CAPABILITIES,
            tenant_id=r["tenantid"],
            capability=name,
            enabled=d["flags"].get(name),
            roles=sorted(d["roles"][name]) if name in d.get("roles", {}) else None,
        )
        for name in names
    ]


FOLDS: dict[str, Callable[[Record, Mapping[str, Any]], list[Upsert]]] = {
    "export.requested": _requested,
    "audit.export_requested": _audit_requested,
    "export.started": _started,
    "export.completed": _completed,
    "export.failed": _failed,
    "export.expired": _expired,
    "notification.preferences_changed": _preferences,
    "notification.read": _read,
    "webhook.subscribed": _subscribed,
    "webhook.unsubscribed": _unsubscribed,
    "webhook.disabled": _disabled,
    "tenant.capabilities_changed": _capabilities,
}
