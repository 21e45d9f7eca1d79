"""``GET /models`` (registered models, metrics, the active one); registering and activating need ``admin``."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from service import crud
from service.api.deps import AdminDep, ReadDep, SessionDep, SettingsDep
from service.db import ModelVersion
from service.schemas import ModelPublic, ModelRegister, ModelsPublic, error

router = APIRouter(prefix="/models", tags=["models"])

UNUSABLE = "not a readable lcad scorer file in the models directory (LCAD_MODELS_DIR)"


def _public(model: ModelVersion) -> ModelPublic:
    return ModelPublic(version=model.version, scorer=model.scorer, sha256=model.sha256, metrics=model.metrics or {},
                       active=model.active, created_at=model.created_at)


@router.get("", response_model=ModelsPublic)
def list_models(session: SessionDep, _: ReadDep) -> ModelsPublic:
    """Registered model versions with their metrics; ``active`` is the default for every request."""
    models = crud.list_models(session=session)
    active = next((m.version for m in models if m.active), None)
    return ModelsPublic(data=[_public(m) for m in models], count=len(models), active=active)


@router.post("", response_model=ModelPublic, status_code=201,
             responses={409: error("version name taken by another file"), 422: error(UNUSABLE)})
def register_model(body: ModelRegister, session: SessionDep, settings: SettingsDep, _: AdminDep) -> ModelPublic:
    """Register a scorer file of the models directory (``LCAD_MODELS_DIR``), readable by the API and workers (admin).

    Every failure answers the same 422, so the answer never tells which paths exist on the server.
    """
    try:
        path = crud.model_file_in(settings.model_dir, body.path)
        model = crud.register_model(session=session, path=path, version=body.version, metrics=body.metrics,
                                    activate=body.activate)
    except crud.VersionConflict as err:
        raise HTTPException(409, str(err)) from err
    except (OSError, ValueError) as err:  # missing, outside the folder, unreadable, unsafe: all alike
        raise HTTPException(422, UNUSABLE) from err
    return _public(model)


@router.post("/{version}/activate", response_model=ModelPublic)
def activate_model(version: str, session: SessionDep, _: AdminDep) -> ModelPublic:
    """Make a registered model version the default (admin)."""
    model = crud.activate_model(session=session, version=version)
    if model is None:
        raise HTTPException(404, "model not found")
    return _public(model)
