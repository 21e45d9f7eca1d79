"""ASGI middleware: request-body size limits (413 before the body is parsed) and Prometheus request metrics."""

from __future__ import annotations

import json
import time

from starlette.routing import Match

from service import metrics


class BodyTooLarge(Exception):
    pass


class BodyLimitMiddleware:
    """Answers 413 when a body exceeds its path's limit, from Content-Length or while streaming (chunked uploads)."""

    def __init__(self, app, limits: dict[str, int], hint: dict[str, str]):
        self.app, self.limits, self.hint = app, limits, hint

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] not in self.limits:
            return await self.app(scope, receive, send)
        limit = self.limits[scope["path"]]
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            return await self._reject(scope, send, limit)
        received = 0
        started = False

        async def counting_receive():
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                raise BodyTooLarge
            return message

        async def tracking_send(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._reject(scope, send, limit)

    async def _reject(self, scope, send, limit: int) -> None:
        detail = f"request body too large for {scope['path']} (limit {limit} bytes)"
        if scope["path"] in self.hint:
            detail += f"; {self.hint[scope['path']]}"
        body = json.dumps({"detail": detail}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class MetricsMiddleware:
    """Counts requests and times them per route template (not per raw path, which would explode the labels)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        status = 500
        start = time.perf_counter()

        async def tracking_send(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        finally:
            route = _route_path(scope)
            metrics.REQUESTS.labels(scope["method"], route, str(status)).inc()
            metrics.LATENCY.labels(scope["method"], route).observe(time.perf_counter() - start)


def _route_path(scope) -> str:
    """The route template of a request; FastAPI's routes name themselves, the docs pages are looked up."""
    route = scope.get("route")
    if route is None and "app" in scope:
        route = next((r for r in scope["app"].routes if r.matches(scope)[0] == Match.FULL), None)
    return getattr(route, "path", "unmatched")
