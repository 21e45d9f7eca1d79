"""Dependencies as ``Annotated`` aliases: handlers read like typed functions (``session: SessionDep``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.dependencies.models import Dependant
from sqlalchemy.orm import Session

from service import crud
from service.auth import Principal
from service.config import Settings
from service.db import Batch, ModelVersion
from service.runtime import ServiceState


def _query_names(dependant: Dependant) -> set[str]:
    return {p.alias for p in dependant.query_params}.union(*(_query_names(d) for d in dependant.dependencies))


def no_unknown_parameters(request: Request) -> None:
    """A query parameter the operation does not declare is a client mistake (a typo would silently filter nothing)."""
    route = request.scope.get("route")
    known = _query_names(route.dependant) if route is not None else set()
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        raise HTTPException(422, f"unknown query parameter(s): {', '.join(repr(u[:64]) for u in unknown[:5])}; "
                                 f"known: {', '.join(sorted(known)) or 'none'}")


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


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


def _too_many(detail: str, retry_after: int) -> HTTPException:
    return HTTPException(429, detail, headers={"Retry-After": str(retry_after)})


def _key_principal(header: str, address: str, state: ServiceState, session: Session) -> Principal:
    """The key's caller; failed attempts are counted per address, and an address over the limit is not heard."""
    failures, limit = f"auth-failures:{address}", state.settings.auth_failures_per_minute
    if retry_after := state.limiter.blocked(failures, limit):
        raise _too_many(f"too many failed authentications from this address (limit {limit} per minute)",
                        retry_after)
    scheme, _, key = header.partition(" ")
    row = crud.find_api_key(session=session, plain=key.strip()) if scheme.lower() == "bearer" else None
    if row is None:
        state.limiter.hit(failures, limit)
        if scheme.lower() != "bearer" or not key.strip():
            raise _unauthorized("malformed Authorization header; use 'Bearer <key>'")
        raise _unauthorized("invalid or revoked API key")
    return Principal(f"key:{row.id}", frozenset(row.scopes.split()), row.id, row.rate_limit_per_minute)


def get_principal(request: Request, state: StateDep, session: SessionDep) -> Principal:
    """The caller from ``Authorization: Bearer <key>``, else anonymous; enforces the rate limits (429)."""
    address = request.client.host if request.client else "unknown"
    header = request.headers.get("authorization")
    if header:
        principal = _key_principal(header, address, state, session)
    else:
        principal = Principal(f"anonymous:{address}", frozenset(state.settings.anonymous_scopes))
    limit = principal.rate_limit_per_minute or state.settings.rate_limit_per_minute
    if retry_after := state.limiter.hit(principal.identity, limit):
        raise _too_many(f"rate limit of {limit} requests per minute exceeded", retry_after)
    return principal


def require(scope: str):
    """A dependency that admits callers holding ``scope`` (401 without a key, 403 with a key lacking it)."""

    def check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if scope in principal.scopes:
            return principal
        if principal.key_pk is None:
            raise _unauthorized(f"an API key with the '{scope}' scope is required")
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
    raise HTTPException(status, f"unknown model {name[:128]!r}; registered: {known}")


def batch_or_404(session: Session, batch_id: str, principal: Principal) -> tuple[Batch, ModelVersion]:
    """A batch the caller may see (its own, or any for admins) and its model; 404 alike for others' and unknown."""
    found = crud.batch_with_model(session=session, batch_id=batch_id)
    if found is None or not principal.may_see(found[0].owner):
        raise HTTPException(404, "batch not found")
    return found
