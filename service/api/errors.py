"""Exception handlers: every client mistake becomes a 4xx whose body names the object and the field."""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError

from models.lightcurve import LightCurveError
from service.batches import IdempotencyConflict
from service.formats import CursorError
from service.ingest import BodyError, printable, validation_rejection

log = logging.getLogger(__name__)


class CurvesRejected(Exception):
    """Light curves of a ``POST /score`` request that cleaning rejected."""

    def __init__(self, rejected: list[LightCurveError]):
        self.rejected = rejected


ECHO_CHARS = 80


def _echo(value: Any) -> Any:
    """A short, JSON-safe hint of the offending input: scalars (text cut to ``ECHO_CHARS``), never whole bodies."""
    if isinstance(value, dict | list | tuple):
        return f"<{type(value).__name__} of {len(value)} item(s)>"
    if isinstance(value, str):
        return printable(value, ECHO_CHARS) + ("..." if len(value) > ECHO_CHARS else "")
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    return value if value is None or isinstance(value, bool | int | float) else f"<{type(value).__name__}>"


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    """Pydantic errors rewritten as (object_id, field, reason), reading the object id from the request body."""
    body = exc.body if isinstance(exc.body, dict) else {}
    curves = body.get("lightcurves") if isinstance(body.get("lightcurves"), list) else []
    errors = []
    for error in exc.errors():
        loc = [p for p in error.get("loc", ()) if p != "body"]
        if len(loc) >= 2 and loc[0] == "lightcurves" and isinstance(loc[1], int):
            raw = curves[loc[1]] if loc[1] < len(curves) else None
            item = validation_rejection({**error, "loc": tuple(loc[2:])}, raw, f"lightcurves[{loc[1]}]").as_dict()
        else:
            item = {"object_id": None, "field": ".".join(map(str, loc)) or "body", "reason": error["msg"]}
        errors.append(item | {"input": _echo(error.get("input"))})
    return errors


def install(app: FastAPI, retry_after_s: int) -> None:
    @app.exception_handler(RequestValidationError)
    async def validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": "invalid request", "rejected": _validation_errors(exc)}, status_code=422)

    @app.exception_handler(CurvesRejected)
    async def rejected(_: Request, exc: CurvesRejected) -> JSONResponse:
        return JSONResponse({"detail": f"{len(exc.rejected)} light curve(s) rejected; nothing was scored",
                             "rejected": [e.as_dict() for e in exc.rejected]}, status_code=422)

    @app.exception_handler(IdempotencyConflict)
    async def conflict(_: Request, exc: IdempotencyConflict) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(BodyError)
    async def body(_: Request, exc: BodyError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    @app.exception_handler(SQLAlchemyTimeoutError)
    async def database_down(_: Request, exc: Exception) -> JSONResponse:
        log.warning("database unavailable: %s", type(exc).__name__)
        return JSONResponse({"detail": "the database is not answering; retry later"}, status_code=503,
                            headers={"Retry-After": str(retry_after_s)})

    @app.exception_handler(RecursionError)
    async def nested(_: Request, exc: RecursionError) -> JSONResponse:
        return JSONResponse({"detail": "JSON nested too deeply"}, status_code=400)

    @app.exception_handler(CursorError)
    async def cursor(_: Request, exc: CursorError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)
