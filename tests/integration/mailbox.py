"""Read mail that reached Mailpit, through its HTTP API (v1, as served by mailpit v1.33.1).

Mailpit is shared by every test of the session (and by other worktrees on this
machine): give each test its own recipient address (``unique_address``) and
search by it, rather than deleting everything.

Search terms are Mailpit's (``to:``, ``subject:"..."``, ``message-id:``); ``to:``
matches a substring, so unique addresses keep tests apart.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx

from skillmind.settings import SmtpSettings

Message = dict[str, Any]  # Mailpit's MessageSummary: ID, MessageID, From, To, Subject, Created, Snippet, ...


def unique_address(prefix: str = "learner") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}@example.test"


def _client(smtp: SmtpSettings) -> httpx.Client:
    # trust_env=False: a proxy from the environment must not reroute requests to our loopback Mailpit.
    return httpx.Client(base_url=f"{smtp.mailpit_url}/api/v1", timeout=10, trust_env=False)


def list_messages(smtp: SmtpSettings, *, limit: int = 500) -> list[Message]:
    """The newest ``limit`` messages, newest first."""
    with _client(smtp) as client:
        response = client.get("/messages", params={"limit": limit})
    response.raise_for_status()
    return response.json()["messages"]


def search(smtp: SmtpSettings, query: str, *, limit: int = 500) -> list[Message]:
    """Messages matching a Mailpit search ``query`` (e.g. ``to:a@b.test``), newest first."""
    with _client(smtp) as client:
        response = client.get("/search", params={"query": query, "limit": limit})
    response.raise_for_status()
    return response.json()["messages"]


def messages_to(smtp: SmtpSettings, address: str) -> list[Message]:
    """Messages with ``address`` among their To recipients (exactly, not as a substring)."""
    found = search(smtp, f"to:{address}")
    return [m for m in found if any(r["Address"] == address for r in m["To"])]


def wait_for(smtp: SmtpSettings, address: str, count: int, *, timeout_s: float = 10.0) -> list[Message]:
    """``messages_to(address)`` once it holds at least ``count`` (Mailpit stores asynchronously)."""
    deadline = time.monotonic() + timeout_s
    found = messages_to(smtp, address)
    while len(found) < count and time.monotonic() < deadline:
        time.sleep(0.1)
        found = messages_to(smtp, address)
    return found


def message(smtp: SmtpSettings, mailpit_id: str) -> Message:
    """One whole message by Mailpit's own ``ID``: headers as fields, ``Text``, ``HTML``, attachments."""
    with _client(smtp) as client:
        response = client.get(f"/message/{mailpit_id}")
    response.raise_for_status()
    return response.json()


def delete_matching(smtp: SmtpSettings, query: str) -> None:
    """Delete the messages matching a search ``query`` (a test's own clean-up)."""
    with _client(smtp) as client:
        client.request("DELETE", "/search", params={"query": query}).raise_for_status()


def delete_all(smtp: SmtpSettings) -> None:
    """Delete every message. Only for a private Mailpit: the shared one serves other tests too."""
    with _client(smtp) as client:
        client.request("DELETE", "/messages", json={}).raise_for_status()
