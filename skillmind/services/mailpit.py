"""Mailpit (MIT) as our local SMTP server: it keeps every mail and serves them over an HTTP API.

Tests and the demo read delivered mail back through that API. It runs with
``--ignore-duplicate-ids``: a mail whose Message-ID it already holds is answered
250 and dropped, so a retried send (same deterministic Message-ID, see
``jobs.mailer``) is a no-op on the receiving side, as the notification fan-out
expects. Both ports bind to ``SmtpSettings.host`` (loopback by default).
"""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

from skillmind.services.base import Launch, LocalService
from skillmind.services.gobuild import go_install
from skillmind.services.process import port_is_open, split_address

MODULE = "github.com/axllent/mailpit"
# The probe talks to our own loopback server: an http_proxy in the environment must not reroute it.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
MIN_GO = (1, 26)  # the `go` directive of mailpit v1.33.1's go.mod


class Mailpit(LocalService):
    name = "mailpit"

    @property
    def address(self) -> str:
        smtp = self.settings.smtp
        return f"{smtp.host}:{smtp.port}"

    @property
    def http_address(self) -> str:
        smtp = self.settings.smtp
        return f"{smtp.host}:{smtp.mailpit_http_port}"

    @property
    def listen_addresses(self) -> tuple[str, ...]:
        return (self.address, self.http_address)

    @property
    def port_setting_hint(self) -> str:
        return "SKILLMIND_SMTP__PORT, SKILLMIND_SMTP__MAILPIT_HTTP_PORT"

    @property
    def binary(self) -> Path:
        return self.settings.cache_dir / "bin" / f"mailpit-{self.settings.services.mailpit_version}"

    def install(self) -> None:
        go_install(MODULE, self.settings.services.mailpit_version, self.binary, min_go=MIN_GO)

    def prepare(self) -> None:
        self.ensure_dir(self.home / "data")

    def launch(self) -> Launch:
        # Flags as `mailpit --help` (v1.33.1) names them.
        return Launch(
            argv=[
                str(self.binary),
                "--smtp",
                self.address,
                "--listen",
                self.http_address,
                "--database",
                str(self.home / "data" / "mailpit.db"),
                "--ignore-duplicate-ids",
                "--max",
                str(self.settings.services.mailpit_max_messages),
                # No network beyond loopback: skip reverse DNS of clients and the release check.
                "--smtp-disable-rdns",
                "--disable-version-check",
            ],
            env={},
        )

    def probe(self) -> str | None:
        url = f"{self.settings.smtp.mailpit_url}/readyz"
        try:
            with _DIRECT.open(url, timeout=2) as response:
                if response.status != 200:
                    return f"{url} answered {response.status}"
        except (urllib.error.URLError, OSError) as err:
            return f"HTTP API does not answer: {type(err).__name__}: {err}"[:200]
        # /readyz is the HTTP side; the SMTP listener is opened by the same process, check it too.
        if not port_is_open(*split_address(self.address)):
            return f"SMTP port {self.address} does not accept connections"
        return None
