"""What the API process holds for its lifetime: settings, database sessions, loaded models, the dispatcher."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import sessionmaker

from service.auth import RateLimiter
from service.config import Settings
from service.dispatch import Dispatcher, Sweeper
from service.scoring import ScorerCache


@dataclass
class ServiceState:
    settings: Settings
    sessions: sessionmaker
    cache: ScorerCache
    dispatcher: Dispatcher
    limiter: RateLimiter
    sweeper: Sweeper | None = None
    model_error: str | None = None  # why the active model could not be loaded, for /readyz
    feedback: dict = field(default_factory=dict)  # re-ranked scores per model pk (service.feedback)
