"""A service process's lifetime: what it holds (:class:`ServiceState`), start-up (wait for the database, migrate,
register and load the model, start the sweeper) and shut-down.

Start-up never fails for want of a model: without one, ``/readyz`` says why and scoring answers 503.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import sessionmaker

from models.scorers import DEFAULT_MODEL_PATH
from models.scorers.checkpoint import CheckpointError
from service import crud
from service.auth import RateLimiter, make_rate_limiter
from service.config import Settings
from service.db import get_engine, get_sessionmaker, migrate
from service.dispatch import Dispatcher, Sweeper, make_dispatcher, sweep
from service.scoring import ScorerCache

log = logging.getLogger(__name__)


@dataclass
class ServiceState:
    """What the API process holds for its lifetime: settings, database sessions, loaded models, the dispatcher."""

    settings: Settings
    sessions: sessionmaker
    cache: ScorerCache
    dispatcher: Dispatcher
    limiter: RateLimiter
    sweeper: Sweeper | None = None
    model_error: str | None = None  # why the active model could not be loaded, for /readyz
    feedback: dict = field(default_factory=dict)  # re-ranked scores per model pk (service.ranking)


def wait_for_db(url: str, timeout_s: float = 30.0) -> None:
    """Block until the database answers (containers start in any order); raise after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with get_engine(url).connect() as connection:
                connection.execute(text("SELECT 1"))
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            log.info("waiting for the database at %s", get_engine(url).url.render_as_string(hide_password=True))
            time.sleep(1.0)


def ensure_model(settings: Settings, state: ServiceState) -> None:
    """Register the configured (or default) model file, then load the active model; record why not otherwise."""
    explicit = settings.model_path is not None
    path = settings.model_path if explicit else DEFAULT_MODEL_PATH
    with state.sessions() as session:
        if path is not None and Path(path).is_file():
            try:
                crud.register_model(session=session, path=path, activate=explicit)
            except (ValueError, OSError) as err:
                log.error("cannot register model %s: %s", path, err)
                state.model_error = f"cannot register {Path(path).name}: {_reason(err)}"
        elif explicit:
            state.model_error = f"model file {path} not found"
        active = crud.active_model(session=session)
    if active is None:
        state.model_error = state.model_error or f"no model registered (default model file {path} not found)"
        log.warning("no model loaded: %s", state.model_error)
        return
    try:
        state.cache.get(active)
        state.model_error = None
    except Exception as err:
        log.exception("cannot load model %s", active.version)
        state.model_error = f"cannot load {active.version}: {_reason(err)}"


def _reason(err: Exception) -> str:
    """What ``/readyz`` (open to anyone) may say about a failure: our own file checks, else only the error's type."""
    return str(err)[:200] if isinstance(err, CheckpointError) else type(err).__name__


def start(settings: Settings, migrate_db: bool = True) -> ServiceState:
    url = settings.db_url
    wait_for_db(url)
    if migrate_db:
        migrate(url)
    sessions = get_sessionmaker(url)
    cache = ScorerCache(settings.device)
    state = ServiceState(settings=settings, sessions=sessions, cache=cache,
                         dispatcher=make_dispatcher(settings, sessions, cache),
                         limiter=make_rate_limiter(settings.broker_url))
    ensure_model(settings, state)

    def sweep_now(requeue_after_s: float = settings.requeue_after_s) -> int:
        return sweep(sessions=sessions, dispatcher=state.dispatcher, requeue_after_s=requeue_after_s,
                     max_attempts=settings.max_attempts)

    if settings.embedded:
        sweep_now(0.0)  # chunks left by a previous run of this process have no other owner
    state.sweeper = Sweeper(settings.sweep_interval_s, sweep_now).start()
    return state


def stop(state: ServiceState) -> None:
    if state.sweeper is not None:
        state.sweeper.stop()
    state.dispatcher.close()
