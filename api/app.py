"""The composition root of the HTTP service: settings and adapters in, an ASGI app out."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import audit, exports, ingest, mutations, notifications, operations, reports, subjects
from api.db import make_pool
from api.logtail import LogTail
from api.page import mount_page
from api.positions import PositionWatcher
from api.problems import BodyLimit, install_problem_handlers
from events.inbox import InboxWriter
from skillmind.settings import Settings


def create_app(settings: Settings, *, inbox: InboxWriter | None = None) -> FastAPI:
    """Build the app; adapters are created at start-up (lifespan), never at import."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.inbox = inbox or InboxWriter(settings.kafka)
        app.state.pool = make_pool(settings.postgres)
        app.state.logtail = LogTail(settings.kafka)
        app.state.positions = PositionWatcher(settings.postgres.conninfo())
        watcher = asyncio.create_task(app.state.positions.run(), name="positions")
        try:
            yield
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            app.state.logtail.close()
            app.state.pool.close()
            if inbox is None:
                app.state.inbox.close()

    app = FastAPI(
        title="SkillMind Analytics API",
        version="1.0.0",
        description="Event-sourced learning analytics: ingest, reports, exports, audit.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    install_problem_handlers(app)
    app.add_middleware(BodyLimit, limit=settings.api.max_request_bytes)
    app.include_router(ingest.router)
    app.include_router(reports.router)
    app.include_router(mutations.router)
    app.include_router(subjects.router)
    app.include_router(operations.router)
    app.include_router(exports.router)
    app.include_router(notifications.router)
    app.include_router(audit.router)
    mount_page(app)

    return app


def app_from_environment() -> FastAPI:
    """The app of one of the ``skillmind serve --workers N`` processes: each builds its own
    settings from the environment (``SKILLMIND_*``, as the CLI does) and its own adapters."""
    from skillmind.logging import configure_logging
    from skillmind.runtime import tune_gc
    from skillmind.settings import load_settings

    tune_gc()
    settings = load_settings()
    configure_logging(settings.log_level, json=True if settings.env == "production" else None)
    return create_app(settings)
