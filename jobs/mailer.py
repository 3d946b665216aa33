"""The email channel: one message handed to the configured SMTP server, or a DeliveryError.

Idempotency is on the receiving side: every mail carries the deterministic
Message-ID ``<{message_id}@skillmind>`` (RFC 5322 §3.6.4), built from the caller's
idempotency key (the event id). A retry after a crash re-sends the same
Message-ID, and a server that drops duplicates (Mailpit with
``--ignore-duplicate-ids``, see ``skillmind.services.mailpit``) keeps one mail.

Retry or give up follows the reply code class of RFC 5321 §4.2.1: 4yz is a
transient failure (retry), 5yz a permanent one (do not retry); a connection that
fails, times out or drops before the server answered is retried.
"""

from __future__ import annotations

import re
import smtplib
from email.message import EmailMessage
from email.utils import formatdate

import structlog

from skillmind.settings import SmtpSettings

log = structlog.get_logger(__name__)

MESSAGE_ID_DOMAIN = "skillmind"
# The id-left of a Message-ID is a dot-atom (RFC 5322 §3.6.4): no spaces, '<', '>', '@'.
_ID_LEFT = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,200}")


class DeliveryError(Exception):
    """The SMTP server did not take the mail.

    ``retryable`` is True for a connection failure, a timeout or a 4yz reply and
    False for a 5yz reply; ``code`` is the SMTP reply code when there was one.
    """

    def __init__(self, message: str, *, retryable: bool, code: int | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.code = code


def message_id_header(message_id: str) -> str:
    """``<{message_id}@skillmind>``; ValueError unless ``message_id`` is a dot-atom (e.g. a UUID)."""
    if not _ID_LEFT.fullmatch(message_id):
        raise ValueError(f"message_id must be 1-200 dot-atom characters (e.g. a UUID), got {message_id!r}")
    return f"<{message_id}@{MESSAGE_ID_DOMAIN}>"


def build_message(
    smtp: SmtpSettings, *, message_id: str, to: str, subject: str, text: str, html: str | None = None
) -> EmailMessage:
    """A text mail, with an HTML alternative when ``html`` is given (multipart/alternative).

    ValueError for a malformed ``message_id``, or a header value with a line break
    (the email package refuses those, so no header can be injected).
    """
    message = EmailMessage()
    message["Message-ID"] = message_id_header(message_id)
    message["Date"] = formatdate(usegmt=True)
    message["From"] = smtp.sender
    message["To"] = to
    message["Subject"] = subject
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message


def is_retryable(code: int) -> bool:
    """Whether an SMTP reply code asks for a retry: 4yz yes, 5yz no (RFC 5321 §4.2.1).

    Any other code (smtplib uses -1 when the server's answer was not a reply)
    says nothing final about the mail, so it is retried.
    """
    return not 500 <= code <= 599


def send_email(
    smtp: SmtpSettings, *, message_id: str, to: str, subject: str, text: str, html: str | None = None
) -> None:
    """Hand one mail to the SMTP server at ``smtp.host:smtp.port``; return once it replied 250.

    Every network step times out after ``smtp.timeout_s`` seconds. Raises
    DeliveryError (``retryable`` as in the module docstring) when the server did
    not take it, ValueError for a malformed argument (see ``build_message``).
    """
    message = build_message(smtp, message_id=message_id, to=to, subject=subject, text=text, html=html)
    try:
        _submit(smtp, message)
    except DeliveryError as err:
        log.warning("mail.failed", message_id=message_id, retryable=err.retryable, code=err.code, reason=str(err))
        raise
    # The recipient's address is personal data: the message id is enough to trace a delivery.
    log.info("mail.sent", message_id=message_id)


def _submit(smtp: SmtpSettings, message: EmailMessage) -> None:
    """One SMTP session; smtplib's exceptions translated to DeliveryError."""
    try:
        with smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_s) as client:
            client.send_message(message)
    except smtplib.SMTPRecipientsRefused as err:
        # One recipient per mail, so every refusal is that recipient's.
        code, reply = next(iter(err.recipients.values()))
        raise _from_reply("recipient refused", code, reply) from err
    except smtplib.SMTPResponseException as err:
        raise _from_reply("server refused", err.smtp_code, err.smtp_error) from err
    except OSError as err:  # refused, reset, timed out, disconnected (SMTPServerDisconnected is an OSError)
        raise DeliveryError(f"SMTP connection failed: {type(err).__name__}: {err}", retryable=True) from err


def _from_reply(what: str, code: int, reply: bytes | str) -> DeliveryError:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return DeliveryError(f"{what}: {code} {text}"[:300], retryable=is_retryable(code), code=code)
