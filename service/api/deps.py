"""Dependencies as ``Annotated`` aliases: handlers read like typed functions (``session: SessionDep``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from sqlalchemy.orm import Session

from service import crud
from service.api.state import ServiceState
from service.auth import Principal
from service.config import Settings
from service.db import ModelVersion


def get_state(request: Request) -> ServiceState:
    return request.app.state.lcad


StateDep = Annotated[ServiceState, Depends(get_state)]


def get_settings(state: StateDep) -> Settings:
    return state.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_db(state: StateDep) -> Iterator[Session]:
    with state.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_db)]


def get_principal(request: Request, state: StateDep, session: SessionDep) -> Principal:
    """The caller from ``Authorization: Bearer <key>``, else anonymous; enforces the rate limit (429)."""
    header = request.headers.get("authorization")
    if header:
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise HTTPException(401, "malformed Authorization header; use 'Bearer <key>'",
                                headers={"WWW-Authenticate": "Bearer"})
        row = crud.find_api_key(session=session, plain=key.strip())
        if row is None:
            raise HTTPException(401, "invalid or revoked API key", headers={"WWW-Authenticate": "Bearer"})
        principal = Principal(f"key:{row.id}", f"key:{row.id}", frozenset(row.scopes.split()), row.id,
                              row.rate_limit_per_minute)
    else:
        address = request.client.host if request.client else "unknown"
        principal = Principal(f"anonymous:{address}", "anonymous", frozenset(state.settings.anonymous_scopes))
    limit = principal.rate_limit_per_minute or state.settings.rate_limit_per_minute
    retry_after = state.limiter.hit(principal.identity, limit)
    if retry_after:
        raise HTTPException(429, f"rate limit of {limit} requests per minute exceeded",
                            headers={"Retry-After": str(retry_after)})
    return principal


def require(scope: str):
    """A dependency that admits callers holding ``scope`` (401 without a key, 403 with a key lacking it)."""

    def check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if scope in principal.scopes:
            return principal
        if principal.key_pk is None:
            raise HTTPException(401, f"an API key with the '{scope}' scope is required",
                                headers={"WWW-Authenticate": "Bearer"})
        raise HTTPException(403, f"this API key lacks the '{scope}' scope")

    return check


ReadDep = Annotated[Principal, Depends(require("read"))]
SubmitDep = Annotated[Principal, Depends(require("submit"))]
LabelDep = Annotated[Principal, Depends(require("label"))]
AdminDep = Annotated[Principal, Depends(require("admin"))]


def model_or_error(session: Session, name: str | None, status: int = 422) -> ModelVersion:
    """The model a request names (or the active one); a clear 4xx/503 when there is none."""
    model = crud.resolve_model(session=session, name=name)
    if model is not None:
        return model
    if name is None:
        raise HTTPException(503, "no active model; register one with 'lcad model register PATH --activate'")
    known = ", ".join(m.version for m in crud.list_models(session=session)) or "none"
    raise HTTPException(status, f"unknown model {name!r}; registered: {known}")
