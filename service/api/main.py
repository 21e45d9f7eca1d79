"""The FastAPI application: ``create_app(settings)``; ``lcad serve`` runs it with uvicorn."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from starlette.concurrency import run_in_threadpool
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from service import runtime
from service.api import errors
from service.api.deps import no_unknown_parameters
from service.api.middleware import BodyLimitMiddleware, MetricsMiddleware
from service.api.routes import alerts, anomalies, batches, health, models, objects, pages, score
from service.config import Settings, get_settings
from service.schemas import ERROR_RESPONSES
from service.web.render import STATIC_DIR, STATIC_URL

DESCRIPTION = """Anomaly scores for astronomical light curves (LC-VaDE and baselines). Higher = more anomalous.

Browse the ranked list at `/` and each object's page at `/objects/{object_id}` (in a browser).
Send a few curves to `POST /score` for an immediate answer, or thousands to millions to `POST /batches`
(JSON lines, CSV or Parquet in the shared layout). Survey alert packets (ZTF, Rubin; Avro or JSON) go to
`POST /alerts`: each object's curve grows alert by alert and is re-scored as it grows. Authenticate with
`Authorization: Bearer <key>` (`lcad keys create`); scopes: read, submit, label (mark objects), admin."""


def _operation_id(route: APIRoute) -> str:
    return f"{route.tags[0]}-{route.name}" if route.tags else route.name


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.lcad = await run_in_threadpool(runtime.start, settings)
        yield
        runtime.stop(app.state.lcad)

    # FastAPIOffline serves /docs from Swagger UI's files shipped in its package: FastAPI's default page loads them
    # from a CDN and is blank without internet. validatorUrl None: no call to swagger.io. No /redoc: its bundle
    # still draws a logo from cdn.redoc.ly (caught by tests/web).
    app = FastAPIOffline(title="lcad", version="0.1.0", description=DESCRIPTION, lifespan=lifespan,
                         generate_unique_id_function=_operation_id, redoc_url=None,
                         swagger_ui_parameters={"validatorUrl": None}, responses=ERROR_RESPONSES)
    for module in (score, batches, alerts, anomalies, objects, models, health):
        # A query parameter the API does not declare is a 422 (a typo would silently filter nothing); the HTML
        # pages take whatever their forms send.
        app.include_router(module.router, dependencies=[Depends(no_unknown_parameters)])
    app.include_router(pages.router)
    app.mount(STATIC_URL, StaticFiles(directory=str(STATIC_DIR)), name="lcad-static")
    errors.install(app, settings.retry_after_s)
    app.add_middleware(BodyLimitMiddleware, limits={"/score": settings.score_max_bytes,
                                                    "/batches": settings.batch_max_bytes,
                                                    "/alerts": settings.alerts_max_bytes},
                       hint={"/score": "submit large sets as a batch: POST /batches"})
    app.add_middleware(MetricsMiddleware)
    if settings.trusted_proxies:  # outermost: every layer sees the client behind a configured proxy
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
    return app
