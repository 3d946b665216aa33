"""The email channel against real SMTP servers: the shared Mailpit for delivery and
duplicates, a private aiosmtpd server for the replies Mailpit does not give."""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller

from bench.common import free_port
from jobs.mailer import DeliveryError, send_email
from skillmind.settings import Settings, SmtpSettings
from tests.integration import mailbox


@pytest.fixture
def smtp(services_up: Settings) -> SmtpSettings:
    return services_up.smtp


def test_mail_arrives_with_its_message_id_text_and_html(smtp: SmtpSettings) -> None:
    to, event_id = mailbox.unique_address(), str(uuid.uuid4())
    send_email(smtp, message_id=event_id, to=to, subject="Export ready", text="Your CSV is ready.", html="<b>Ready</b>")

    (summary,) = mailbox.wait_for(smtp, to, 1)
    assert summary["MessageID"] == f"{event_id}@skillmind"
    assert summary["Subject"] == "Export ready"
    assert summary["From"]["Address"] == "no-reply@skillmind.local"
    full = mailbox.message(smtp, summary["ID"])
    assert full["Text"].strip() == "Your CSV is ready."
    assert "<b>Ready</b>" in full["HTML"]
    mailbox.delete_matching(smtp, f"to:{to}")


def test_sending_twice_with_one_message_id_keeps_one_mail(smtp: SmtpSettings) -> None:
    to, event_id = mailbox.unique_address(), str(uuid.uuid4())
    for _ in range(2):  # a retry after a crash between SMTP's 250 and our bookkeeping
        send_email(smtp, message_id=event_id, to=to, subject="Export ready", text="once")
    send_email(smtp, message_id=str(uuid.uuid4()), to=to, subject="Another export", text="other")

    found = mailbox.wait_for(smtp, to, 2)
    assert sorted(m["Subject"] for m in found) == ["Another export", "Export ready"]
    mailbox.delete_matching(smtp, f"to:{to}")


class _Refuse:
    """aiosmtpd handler answering every RCPT with one fixed reply."""

    def __init__(self, reply: str) -> None:
        self.reply = reply

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # the hook aiosmtpd calls
        return self.reply


@pytest.fixture
def refusing_server() -> Iterator[tuple[SmtpSettings, _Refuse]]:
    handler = _Refuse("250 OK")
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield SmtpSettings(host="127.0.0.1", port=controller.port, timeout_s=5), handler
    finally:
        controller.stop()


@pytest.mark.parametrize(
    ("reply", "retryable"),
    [("451 4.3.0 Mailbox busy, try later", True), ("550 5.1.1 No such user", False)],
)
def test_refusal_is_retryable_only_when_transient(
    refusing_server: tuple[SmtpSettings, _Refuse], reply: str, retryable: bool
) -> None:
    smtp, handler = refusing_server
    handler.reply = reply
    with pytest.raises(DeliveryError) as caught:
        send_email(smtp, message_id="m1", to="a@example.test", subject="s", text="t")
    assert caught.value.retryable is retryable
    assert caught.value.code == int(reply[:3])
    assert reply[4:] in str(caught.value)


def test_nothing_listening_is_retryable() -> None:
    smtp = SmtpSettings(host="127.0.0.1", port=free_port(), timeout_s=2)
    with pytest.raises(DeliveryError) as caught:
        send_email(smtp, message_id="m2", to="a@example.test", subject="s", text="t")
    assert caught.value.retryable and caught.value.code is None


def test_a_server_that_never_greets_times_out_and_is_retryable() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        accepted: list[socket.socket] = []
        threading.Thread(target=lambda: accepted.append(silent.accept()[0]), daemon=True).start()
        smtp = SmtpSettings(host="127.0.0.1", port=silent.getsockname()[1], timeout_s=0.5)
        with pytest.raises(DeliveryError, match="timed out") as caught:
            send_email(smtp, message_id="m3", to="a@example.test", subject="s", text="t")
        for conn in accepted:
            conn.close()
    assert caught.value.retryable
