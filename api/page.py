"""The product page at ``/app/``: static files shipped in the package (no build step).

The page is plain HTML, CSS and ES modules that call the public API with the user's
bearer token; the server only hands out the files. They carry a strict Content Security
Policy: the page holds a token, so it runs only its own scripts and talks only to this
origin (presigned download links are plain navigations, which CSP does not restrict).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from starlette.staticfiles import StaticFiles

WEB = Path(__file__).parent / "web"
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    # A new release of the page is picked up on the next load.
    "Cache-Control": "no-cache",
}


class PageFiles(StaticFiles):
    async def get_response(self, path: str, scope: Any) -> Any:
        response = await super().get_response(path, scope)
        response.headers.update(HEADERS)
        return response


def mount_page(app: FastAPI) -> None:
    app.mount("/app", PageFiles(directory=WEB, html=True), name="app")

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/app/")
