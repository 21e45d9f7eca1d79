"""``GET /models`` (registered models, metrics, the active one); registering and activating need ``admin``."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from service import crud
from service.api.deps import AdminDep, ReadDep, SessionDep
from service.db import ModelVersion
from service.schemas import ModelPublic, ModelRegister, ModelsPublic

router = APIRouter(prefix="/models", tags=["models"])


def _public(model: ModelVersion) -> ModelPublic:
    return ModelPublic(version=model.version, scorer=model.scorer, sha256=model.sha256, metrics=model.metrics or {},
                       active=model.active, created_at=model.created_at)


@router.get("", response_model=ModelsPublic)
def list_models(session: SessionDep, _: ReadDep) -> ModelsPublic:
    """Registered model versions with their metrics; ``active`` is the default for every request."""
    models = crud.list_models(session=session)
    active = next((m.version for m in models if m.active), None)
    return ModelsPublic(data=[_public(m) for m in models], count=len(models), active=active)


@router.post("", response_model=ModelPublic, status_code=201)
def register_model(body: ModelRegister, session: SessionDep, _: AdminDep) -> ModelPublic:
    """Register a saved scorer file readable by the API and the workers (admin)."""
    try:
        model = crud.register_model(session=session, path=body.path, version=body.version, metrics=body.metrics,
                                    activate=body.activate)
    except FileNotFoundError as err:
        raise HTTPException(422, str(err)) from err
    except ValueError as err:
        raise HTTPException(422, f"not an lcad scorer file: {err}") from err
    return _public(model)


@router.post("/{version}/activate", response_model=ModelPublic)
def activate_model(version: str, session: SessionDep, _: AdminDep) -> ModelPublic:
    """Make a registered model version the default (admin)."""
    model = crud.activate_model(session=session, version=version)
    if model is None:
        raise HTTPException(404, "model not found")
    return _public(model)
