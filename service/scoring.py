"""Scoring for the service: a per-process cache of loaded models, chunk scoring for workers, and ``POST /score``.

Workers and the embedded thread pool both call :func:`score_chunk`: it re-reads the chunk from the database (only
the id travels through the queue), skips what is already scored, scores the rest in one ``Scorer.score`` call (the
scorer folds on CPU and runs its network in large batches on its device) and writes every score and the chunk's new
state in one transaction. Running it twice for the same chunk leaves the same rows.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from models.lightcurve import LightCurve, LightCurveError
from models.scorers import load_scorer
from models.scorers.base import ObjectScore, Scorer, ScoreResult
from service import crud, metrics
from service.crud import ChunkScores
from service.db import ModelVersion
from service.ingest import Accepted
from service.lease import run_leased

log = logging.getLogger(__name__)


def resolve_device(device: str) -> str:
    """'auto' becomes 'cuda' when a GPU is visible, else 'cpu'."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class ScorerCache:
    """Loaded scorers by model version, one load per process (never on the hot path).

    ``turn`` makes this process's chunks take turns in the model: with two scoring threads, one reads its next chunk
    and waits for its scores to be stored while the other is in the model, and the model never runs twice at once
    (on one core, two would only share it).
    """

    def __init__(self, device: str = "auto"):
        self.device = resolve_device(device)
        self._scorers: dict[tuple[str, str], Scorer] = {}
        self._lock = threading.Lock()
        self.turn = threading.Lock()

    def get(self, model: ModelVersion) -> Scorer:
        key = (model.version, model.sha256)
        with self._lock:
            if key not in self._scorers:
                self._scorers[key] = self._load(model.path, model.sha256)
                log.info("loaded model %s (%s) on %s", model.version, model.scorer, self.device)
            return self._scorers[key]

    def preload(self, sessions: sessionmaker) -> threading.Thread:
        """Load the active model in a background thread, so that a new worker's first chunk does not pay for it (a
        chunk that comes sooner waits on the lock rather than loading the model a second time)."""

        def load() -> None:
            try:
                with sessions() as session:
                    model = crud.active_model(session=session)
                if model is not None:
                    self.get(model)
            except Exception:
                log.warning("could not preload the active model; the first chunk will load it", exc_info=True)

        thread = threading.Thread(target=load, name="lcad-preload", daemon=True)
        thread.start()
        return thread

    def loaded(self, model: ModelVersion) -> bool:
        return (model.version, model.sha256) in self._scorers

    def _load(self, path: str, sha256: str) -> Scorer:
        """Rebuild the scorer from its file, refusing a file whose bytes differ from those registered."""
        return load_scorer(path, device=self.device, sha256=sha256)  # scorers without a network ignore the device


def score_curves(scorer: Scorer, curves: Sequence[LightCurve]
                 ) -> tuple[list[ObjectScore | None], list[LightCurveError]]:
    """Scores in input order; if the whole call fails, curves are retried one by one so one bad curve costs itself.

    A curve the scorer rejects (e.g. no band the model knows) fails with the scorer's reason; a curve whose score is
    not finite counts as failed too (it would otherwise sort above every real anomaly).
    """
    if not curves:
        return [], []
    try:
        scored = scorer.score(curves)
    except Exception:
        log.exception("scoring %d curves failed; retrying them one by one", len(curves))
        singles = [_score_single(scorer, lc) for lc in curves]
        scored = ScoreResult([o for s in singles for o in s.objects], [e for s in singles for e in s.rejections])
    results: list[ObjectScore | None] = list(scored.objects)
    errors = list(scored.rejections)  # one per None, in input order (ScoreResult's contract)
    for i, (lc, result) in enumerate(zip(curves, results, strict=True)):
        if result is not None and not math.isfinite(result.score):
            errors.append(LightCurveError(lc.object_id, "mag", f"the model gave a non-finite score ({result.score})"))
            results[i] = None
    return results, errors


def _score_single(scorer: Scorer, lc: LightCurve) -> ScoreResult:
    try:
        return scorer.score([lc])
    except Exception:
        log.exception("object %r: scoring failed", lc.object_id)
        return ScoreResult([None], [LightCurveError(lc.object_id, "mag", "the model could not score this curve")])


def score_accepted(*, session: Session, scorer: Scorer, model: ModelVersion, accepted: Sequence[Accepted]
                   ) -> tuple[list[ObjectScore | None], list[LightCurveError]]:
    """Score cleaned curves now and store them with their scores (``POST /score``); commits."""
    results, errors = score_curves(scorer, [a.curve for a in accepted])
    crud.store_scored(session=session, model_pk=model.id, accepted=accepted, results=results)
    metrics.CURVES_SCORED.labels(path="sync").inc(sum(r is not None for r in results))
    return results, errors


@dataclass
class ChunkOutcome:
    chunk_id: int
    state: str
    scored: int = 0
    failed: int = 0
    skipped: bool = False


def score_chunk(*, sessions: sessionmaker, cache: ScorerCache, chunk_id: int, lease_s: float = 60.0,
                store: Callable[[ChunkScores], int] | None = None) -> ChunkOutcome:
    """Score one chunk of a batch under a lease; safe to run again (after a redelivery, a re-queue or a retry).

    A chunk that is finished, or whose lease another worker still renews, is skipped: it is never scored twice at once.
    ``store`` stores the scores and finishes the chunk (:meth:`service.child_process.ChildProcess.store`, in another
    process); by default this thread does (:func:`store_scores`).
    """
    store = store or (lambda scores: store_scores(sessions, scores))
    outcome = run_leased(sessions, chunk_id, lease_s, lambda: _score_claimed(sessions, cache, chunk_id, store))
    return skipped(sessions, chunk_id) if outcome is None else outcome


def skipped(sessions: sessionmaker, chunk_id: int) -> ChunkOutcome:
    """The outcome of a chunk not run because it is finished or leased by another worker: its current state."""
    with sessions() as session:
        return ChunkOutcome(chunk_id, crud.chunk_state(session=session, chunk_id=chunk_id), skipped=True)


def store_scores(sessions: sessionmaker, scores: ChunkScores) -> int:
    """Store a scored chunk and mark it done (:func:`service.crud.finish_chunk`); its scored count."""
    with sessions() as session:
        return crud.finish_chunk(session=session, scores=scores)


def _score_claimed(sessions: sessionmaker, cache: ScorerCache, chunk_id: int,
                   store: Callable[[ChunkScores], int]) -> ChunkOutcome:
    with sessions() as session:
        work = crud.chunk_work(session=session, chunk_id=chunk_id)
    curves = [crud.curve_from_row(r, oid) for r, oid in work.todo]
    with cache.turn:
        results, errors = score_curves(cache.get(work.model), curves)
    scored = store(crud.chunk_scores(work, curves, results, errors))
    metrics.CURVES_SCORED.labels(path="batch").inc(len(work.todo) - len(errors))
    return ChunkOutcome(chunk_id, "done", scored=scored, failed=len(errors))
