"""versitygw (Apache-2.0) as our S3 server: SigV4 presigned-URL expiry, object lock, legal hold."""

from __future__ import annotations

from pathlib import Path

import urllib3
from minio.error import MinioException

from jobs.objectstore import make_client
from skillmind.services.base import Launch, LocalService
from skillmind.services.gobuild import go_install

MODULE = "github.com/versity/versitygw/cmd/versitygw"
MIN_GO = (1, 25)


class S3Server(LocalService):
    name = "s3"

    @property
    def address(self) -> str:
        return self.settings.s3.endpoint

    @property
    def port_setting_hint(self) -> str:
        return "SKILLMIND_S3__ENDPOINT"

    @property
    def binary(self) -> Path:
        return self.settings.cache_dir / "bin" / f"versitygw-{self.settings.services.versitygw_version}"

    def install(self) -> None:
        go_install(MODULE, self.settings.services.versitygw_version, self.binary, min_go=MIN_GO)

    def prepare(self) -> None:
        self.ensure_dir(self.home / "data")
        self.ensure_dir(self.home / "versions")

    def launch(self) -> Launch:
        s3 = self.settings.s3
        return Launch(
            argv=[
                str(self.binary),
                "--port",
                s3.endpoint,
                "--region",
                s3.region,
                "--quiet",
                "posix",
                "--versioning-dir",
                str(self.home / "versions"),
                str(self.home / "data"),
            ],
            # Credentials through the environment, not argv, so `ps` does not show them.
            env={"ROOT_ACCESS_KEY": s3.access_key, "ROOT_SECRET_KEY": s3.secret_key.get_secret_value()},
        )

    def probe(self) -> str | None:
        try:
            make_client(self.settings.s3, fail_fast=True).list_buckets()
        except (MinioException, urllib3.exceptions.HTTPError, OSError) as err:
            return f"S3 API does not answer: {type(err).__name__}: {err}"[:200]
        return None
