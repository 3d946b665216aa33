"""A real webhook receiver for tests: an HTTP server on loopback, in a thread, that behaves
like a careful customer endpoint.

It verifies every request with ``standardwebhooks.Webhook(secret).verify`` (401 when
that fails), acknowledges a ``webhook-id`` it already accepted without recording it
again (receiver-side idempotency, as the specification asks of receivers), and can
be told to fail its first N requests (``fail_first``, with ``fail_status``, 500 by
default) or to answer slowly (``delay_s``). Use it as a context manager::

    with WebhookReceiver(secret, fail_first=2) as receiver:
        send_webhook(receiver.url, secret, ...)
        receiver.wait_for_accepted(1)
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError


@dataclass(frozen=True)
class Delivery:
    """One accepted delivery: its ``webhook-id``, ``webhook-timestamp`` (s), and the parsed JSON body."""

    msg_id: str
    timestamp: int
    payload: Any


@dataclass
class Tally:
    requests: int = 0  # every request that reached the handler
    failed: int = 0  # answered with the injected failure
    rejected: int = 0  # signature missing, wrong or out of the 5-minute tolerance
    duplicates: int = 0  # verified, but its webhook-id was accepted before
    accepted: list[Delivery] = field(default_factory=list)


class WebhookReceiver:
    """A Standard Webhooks receiver on ``127.0.0.1:<free port>``; ``url`` is where to POST."""

    def __init__(self, secret: str, *, fail_first: int = 0, fail_status: int = 500, delay_s: float = 0.0) -> None:
        self.verifier = Webhook(secret)
        self.fail_first = fail_first
        self.fail_status = fail_status
        self.delay_s = delay_s
        self.location: str | None = None  # sent as Location with every answer (to test redirects)
        self.tally = Tally()
        self.lock = threading.Lock()
        self.server = _Server(("127.0.0.1", 0), _handler_for(self))
        self.thread = threading.Thread(target=self.server.serve_forever, name="webhook-receiver", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/hooks"

    @property
    def accepted(self) -> list[Delivery]:
        with self.lock:
            return list(self.tally.accepted)

    def __enter__(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def wait_for_accepted(self, count: int, *, timeout_s: float = 10.0) -> list[Delivery]:
        """The accepted deliveries once there are at least ``count`` (or when time is up)."""
        deadline = time.monotonic() + timeout_s
        while len(self.accepted) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.accepted

    def respond(self, body: bytes, headers: dict[str, str]) -> int:
        """The status to answer one request with; records what it accepted."""
        with self.lock:
            self.tally.requests += 1
            if self.fail_first > 0:
                self.fail_first -= 1
                self.tally.failed += 1
                return self.fail_status
        return self._verify_and_record(body, headers)

    def _verify_and_record(self, body: bytes, headers: dict[str, str]) -> int:
        try:
            payload = self.verifier.verify(body, headers)
        except WebhookVerificationError:
            with self.lock:
                self.tally.rejected += 1
            return 401
        msg_id = headers["webhook-id"]
        with self.lock:
            if any(d.msg_id == msg_id for d in self.tally.accepted):
                self.tally.duplicates += 1
            else:
                self.tally.accepted.append(Delivery(msg_id, int(headers["webhook-timestamp"]), payload))
        return 204


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        # A sender that timed out closes first; writing our late answer then fails. Expected here.
        pass


def _handler_for(receiver: WebhookReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            if receiver.delay_s:
                time.sleep(receiver.delay_s)
            headers = {k.lower(): v for k, v in self.headers.items()}
            status = receiver.respond(body, headers)
            with contextlib.suppress(OSError):
                self.send_response(status)
                if receiver.location:
                    self.send_header("location", receiver.location)
                self.send_header("content-length", "0")
                self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # quiet: the tally is the record
            pass

    return Handler
