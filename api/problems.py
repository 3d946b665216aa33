"""RFC 9457 problem details: the one place domain errors become HTTP responses."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"
REQUEST_ID_HEADER = "X-Request-ID"

log = structlog.get_logger(__name__)


class Problem(Exception):
    """Raise anywhere in a request; answered as ``application/problem+json``."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        kind: str = "about:blank",
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.kind = status, title, detail, kind
        self.headers = headers
        self.extensions = extensions


_PROBLEM_SCHEMA = {
    "type": "object",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
    },
    "required": ["type", "title", "status", "detail"],
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, object]]:
    """OpenAPI entries for RFC 9457 problem answers, for a route's or router's ``responses``."""
    return {
        status: {
            "description": _TITLES.get(status, "Problem"),
            "content": {PROBLEM_JSON: {"schema": _PROBLEM_SCHEMA}},
        }
        for status in statuses
    }


def problem_response(problem: Problem, instance: str | None = None) -> JSONResponse:
    body = {
        "type": problem.kind,
        "title": problem.title,
        "status": problem.status,
        "detail": problem.detail,
        **problem.extensions,
    }
    if instance:
        body["instance"] = instance
    return JSONResponse(body, status_code=problem.status, media_type=PROBLEM_JSON, headers=problem.headers)


def unexpected_problem(request: Request, exc: Exception) -> JSONResponse:
    """A 500 problem for a bug: the caller gets a request id, the log gets the traceback
    under the same id, and nothing internal leaks into the answer."""
    request_id = request.headers.get(REQUEST_ID_HEADER) or uuid.uuid4().hex
    if len(request_id) > 64 or not request_id.isprintable():
        request_id = uuid.uuid4().hex  # a caller's header is echoed only when harmless
    log.error(
        "unexpected_error",
        request_id=request_id,
        method=request.method,
        path=request.url.path,
        exc_info=exc,
    )
    problem = Problem(
        500,
        "Internal error",
        f"the request failed unexpectedly; quote request id {request_id} when reporting it",
        headers={REQUEST_ID_HEADER: request_id},
        request_id=request_id,
    )
    return problem_response(problem, request.url.path)


def install_problem_handlers(app: FastAPI) -> None:
    """Every error becomes ``application/problem+json``: ours, the framework's and bugs."""
    app.add_exception_handler(Exception, unexpected_problem)

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": ".".join(str(p) for p in e["loc"]), "rule": e["type"], "message": e["msg"]} for e in exc.errors()
        ]
        return problem_response(
            Problem(
                422,
                "Invalid request",
                "; ".join(f"{e['field']}: {e['message']}" for e in errors),
                errors=errors,
            ),
            request.url.path,
        )

    @app.exception_handler(psycopg.errors.UndefinedTable)
    async def _not_built(request: Request, exc: psycopg.errors.UndefinedTable) -> JSONResponse:
        # The read models are created by the projections on their first start (or a replay).
        return problem_response(
            Problem(
                503,
                "Read models not built yet",
                "the projections have not created the read models yet; start them "
                "(`skillmind run projections`) or rebuild them (`skillmind replay`), then retry",
                headers={"Retry-After": "5"},
            ),
            request.url.path,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail, extensions = str(exc.detail), {}
        if exc.status_code == 400:
            # The framework's own 400: a body it could not decode (not UTF-8, nested too deep).
            detail = f"{detail}: send a UTF-8 JSON document nested at most a few levels deep"
            extensions = {"field": "body", "rule": "malformed_body"}
        return problem_response(
            Problem(
                exc.status_code,
                _TITLES.get(exc.status_code, "Error"),
                detail,
                headers=getattr(exc, "headers", None),
                **extensions,
            ),
            request.url.path,
        )


class BodyLimit:
    """ASGI middleware: 413 problem+json for a request whose declared ``Content-Length``
    exceeds ``limit`` bytes, before anything reads it (the ingest endpoint, ``exempt``, has
    its own larger limit and also bounds bodies sent without a length)."""

    def __init__(self, app: Any, limit: int, exempt: tuple[str, ...] = ("/v1/events",)) -> None:
        self.app, self.limit, self.exempt = app, limit, exempt

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] not in self.exempt:
            declared = dict(scope.get("headers") or ()).get(b"content-length")
            if declared is not None and declared.isdigit() and int(declared) > self.limit:
                detail = (
                    f"the body is {int(declared)} bytes; the limit is {self.limit} (SKILLMIND_API__MAX_REQUEST_BYTES)"
                )
                response = problem_response(
                    Problem(413, "Content too large", detail, field="body", rule="too_large"), scope["path"]
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    409: "Conflict",
    405: "Method not allowed",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Invalid request",
    500: "Internal error",
    503: "Unavailable",
}
