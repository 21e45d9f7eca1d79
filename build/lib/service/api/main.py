"""The FastAPI application: ``create_app(settings)``; ``lcad serve`` runs it with uvicorn."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from service import runtime
from service.api import errors
from service.api.middleware import BodyLimitMiddleware, MetricsMiddleware
from service.api.routes import anomalies, batches, health, models, objects, score
from service.config import Settings, get_settings

DESCRIPTION = """Anomaly scores for astronomical light curves (LC-VaDE and baselines). Higher = more anomalous.

Send a few curves to `POST /score` for an immediate answer, or thousands to millions to `POST /batches`
(JSON lines, CSV or Parquet in the shared layout). Authenticate with `Authorization: Bearer <key>`
(`lcad keys create`); scopes: read, submit, admin."""


def _operation_id(route: APIRoute) -> str:
    return f"{route.tags[0]}-{route.name}" if route.tags else route.name


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.lcad = await run_in_threadpool(runtime.start, settings)
        yield
        runtime.stop(app.state.lcad)

    app = FastAPI(title="lcad", version="0.1.0", description=DESCRIPTION, lifespan=lifespan,
                  generate_unique_id_function=_operation_id)
    for module in (score, batches, anomalies, objects, models, health):
        app.include_router(module.router)
    errors.install(app)
    app.add_middleware(BodyLimitMiddleware, limits={"/score": settings.score_max_bytes,
                                                    "/batches": settings.batch_max_bytes},
                       hint={"/score": "submit large sets as a batch: POST /batches"})
    app.add_middleware(MetricsMiddleware)
    return app
