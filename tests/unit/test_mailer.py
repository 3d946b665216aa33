"""The email channel's pure parts: the Message-ID, the message shape, which replies are retried."""

from __future__ import annotations

import pytest

from jobs.mailer import build_message, is_retryable, message_id_header
from skillmind.settings import SmtpSettings


def test_message_id_is_deterministic_and_ours() -> None:
    event_id = "3f1c9a7e-0b1d-4c2a-9e55-8f0e2d7a1b64"
    assert message_id_header(event_id) == f"<{event_id}@skillmind>"


@pytest.mark.parametrize("bad", ["", "a b", "a@b", "<a>", "a\r\nBcc: x@y", "x" * 201])
def test_message_id_refuses_what_is_not_a_dot_atom(bad: str) -> None:
    with pytest.raises(ValueError, match="dot-atom"):
        message_id_header(bad)


def test_text_only_mail() -> None:
    message = build_message(SmtpSettings(), message_id="e1", to="a@example.test", subject="Ready", text="Done.")
    assert message["Message-ID"] == "<e1@skillmind>"
    assert message["From"] == SmtpSettings().sender
    assert message["To"] == "a@example.test"
    assert message["Date"]
    assert message.get_content_type() == "text/plain"
    assert message.get_content().strip() == "Done."


def test_html_is_an_alternative_to_the_text() -> None:
    message = build_message(
        SmtpSettings(), message_id="e2", to="a@example.test", subject="Ready", text="Done.", html="<p>Done.</p>"
    )
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]


def test_a_line_break_in_a_header_is_refused() -> None:
    with pytest.raises(ValueError):
        build_message(SmtpSettings(), message_id="e3", to="a@example.test\r\nBcc: x@y.test", subject="s", text="t")


@pytest.mark.parametrize(
    ("code", "retry"), [(421, True), (451, True), (452, True), (-1, True), (550, False), (554, False)]
)
def test_4yz_is_retried_5yz_is_not(code: int, retry: bool) -> None:
    assert is_retryable(code) is retry
