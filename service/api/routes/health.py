"""``GET /healthz`` (the process answers), ``GET /readyz`` (database, queue, model), ``GET /metrics``."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service import crud
from service.api.deps import StateDep
from service.schemas import Health, Readiness

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    """Liveness: the process is up."""
    return Health(status="ok")


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
def readyz(state: StateDep):
    """Readiness: database reachable, queue reachable and a model loaded (503 otherwise, saying which)."""
    detail: dict[str, str] = {}
    model_name, model_loaded, database = None, False, False
    try:
        with state.sessions() as session:
            crud.ping(session=session)
            database = True
            active = crud.active_model(session=session)
    except Exception as err:
        detail["database"] = f"unreachable: {err.__class__.__name__}"
        active = None
    queue, detail["queue"] = state.dispatcher.healthy()
    if active is not None:
        model_name, model_loaded = active.version, state.cache.loaded(active)
    if not model_loaded:
        detail["model"] = state.model_error or (f"{model_name} not loaded yet" if model_name else "no active model")
    ready = database and queue and model_loaded
    body = Readiness(ready=ready, database=database, queue=queue, model_loaded=model_loaded, model=model_name,
                     detail=detail)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
def prometheus_metrics() -> Response:
    """Prometheus metrics of this API process."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
