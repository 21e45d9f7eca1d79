"""What the pages show, gathered from the database: rows of the ranked list and everything on an object's page.

The ranked list has one row per object (its newest score by the chosen model version). The object page shows the
chosen model's newest score of the object, and its nearest neighbours in that model's latent space (Euclidean
distance between stored latent means), found among every object's newest score by the same model version.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import ConfigDict
from sqlalchemy.orm import Session

from service import crud
from service.db import Label, LightCurveRow, ModelVersion, Object, Score
from service.ranking import Ranking, ranked_page
from service.schemas import ScoreFilters
from service.web import figures

PAGE_SIZE = 50
N_NEIGHBOURS = 6


class ListFilters(ScoreFilters):
    """The list's query parameters: the ranking filters, plus the model, the ranking and the page cursor."""

    model_config = ConfigDict(extra="ignore", protected_namespaces=())

    model: str | None = None
    ranking: Ranking = "score"
    cursor: str | None = None

    def score_filters(self) -> ScoreFilters:
        """The database filters; the page shows one row per object (its newest score)."""
        return ScoreFilters(**self.model_dump(include=set(ScoreFilters.model_fields)) | {"latest_only": True})

    def query(self, **changes: Any) -> dict[str, str]:
        """The filters as query parameters (for links), with ``changes`` applied; unset ones left out."""
        values = self.model_dump(exclude={"latest_only"}) | changes
        return {k: v.isoformat() if isinstance(v, dt.datetime) else str(v) for k, v in values.items() if v is not None}


@dataclass
class Row:
    """One object in the ranked list (or among an object's neighbours)."""

    object_id: str
    score: float
    predicted_class: str | None
    probability: float | None
    period: float | None
    period_source: str
    thumbnail: list[tuple[float, float]]
    label: str | None
    label_class: str | None
    scored_at: dt.datetime
    distance: float | None = None
    feedback_score: float | None = None


@dataclass
class ObjectView:
    """Everything on an object's page."""

    object_id: str
    model: str | None
    score: Score | None
    period: float | None
    period_source: str
    figures: dict[str, str]
    history: list[figures.HistoryPoint]
    labels: list[Label]
    neighbours: list[Row] = field(default_factory=list)


def period_used(score: Score | None, curve: LightCurveRow) -> tuple[float | None, str]:
    """The period a score folded the curve with, and whether it was "given" or "searched".

    Scores record both (``Score.period``, ``Score.period_source``); scores stored before they did have neither, so
    a period stored with the curve counts as given, and none as unknown.
    """
    if score is not None and score.period:
        return float(score.period), score.period_source or ("given" if curve.period else "searched")
    if curve.period:
        return float(curve.period), "given"
    return None, "none stored"


def _row(score: Score, object_id: str, label: Label | None, curve: LightCurveRow, distance: float | None = None,
         feedback_score: float | None = None) -> Row:
    period, source = period_used(score, curve)
    lc = crud.curve_from_row(curve, object_id)
    posterior = score.class_posterior or {}
    return Row(object_id=object_id, score=score.score, predicted_class=score.predicted_class,
               probability=posterior.get(score.predicted_class) if score.predicted_class else None,
               period=period, period_source=source,
               thumbnail=figures.thumbnail(*figures.folded_points(lc, score.reconstruction, period)),
               label=label.kind if label else None, label_class=label.known_class if label else None,
               scored_at=score.scored_at, distance=distance, feedback_score=feedback_score)


def rows(session: Session, found: list[tuple[Score, str, Label | None]], distances: list[float] | None = None,
         reranked: dict[int, float] | None = None) -> list[Row]:
    curves = crud.curves_by_pk(session=session, pks=[s.lightcurve_pk for s, _o, _l in found])
    distances = distances or [None] * len(found)
    reranked = reranked or {}
    return [_row(s, oid, lab, curves[s.lightcurve_pk], d, reranked.get(s.id))
            for (s, oid, lab), d in zip(found, distances, strict=True)]


def ranked(session: Session, model: ModelVersion, filters: ListFilters, cache: dict) -> tuple[list[Row], str | None]:
    """A page of the ranked list (by score or re-ranked from the labels), and the next page's cursor."""
    found, reranked, next_cursor = ranked_page(session, model, cache, filters.score_filters(), filters.ranking,
                                               filters.cursor, PAGE_SIZE)
    return rows(session, found, reranked=reranked), next_cursor


def neighbours(session: Session, model: ModelVersion, score: Score, k: int = N_NEIGHBOURS) -> list[Row]:
    """The k objects whose latent means lie nearest this score's, by the same model version."""
    if not score.latent_mean or any(v is None for v in score.latent_mean):
        return []
    stored = crud.latent_means(session=session, model=model)
    if not stored:
        return []
    ids, _pks, means = zip(*stored, strict=True)
    distance = np.linalg.norm(np.asarray(means) - np.asarray(score.latent_mean), axis=1)
    order = [i for i in np.argsort(distance, kind="stable") if ids[i] != score.id][:k]
    found = crud.scores_by_ids(session=session, ids=[ids[i] for i in order])
    found = [f for f in found if f[0].object_pk != score.object_pk]
    by_id = {ids[i]: float(distance[i]) for i in order}
    return rows(session, found, [by_id[s.id] for s, _o, _l in found])


def object_view(session: Session, obj: Object, curves: list[LightCurveRow], scores: list[tuple[Score, str]],
                model: ModelVersion | None) -> ObjectView:
    """The chosen model's newest score of the object (else its newest score), its figures, history and labels."""
    mine = [s for s, _v in scores if model and s.model_pk == model.id] or [s for s, _v in scores]
    score = mine[-1] if mine else None
    by_pk = {c.id: c for c in curves}
    curve = by_pk.get(score.lightcurve_pk, curves[-1]) if score else curves[-1]
    lc = crud.curve_from_row(curve, obj.object_id)
    period, source = period_used(score, curve)
    history = [figures.HistoryPoint(version, f"{s.scored_at:%Y-%m-%d %H:%M}", by_pk[s.lightcurve_pk].n_points,
                                    s.score) for s, version in scores if s.lightcurve_pk in by_pk]
    shown = {"raw": figures.raw_curve(lc),
             "folded": figures.folded_curve(lc, score.reconstruction if score else None, period, source)}
    if score is not None and score.class_posterior:
        shown["posterior"] = figures.posterior_bars(score.class_posterior)
    if history:
        shown["history"] = figures.score_history(history)
    scorer_model = session.get(ModelVersion, score.model_pk) if score is not None else None
    return ObjectView(object_id=obj.object_id, model=scorer_model.version if scorer_model else None, score=score,
                      period=period, period_source=source, figures=shown, history=history,
                      labels=crud.object_labels(session=session, obj=obj),
                      neighbours=neighbours(session, scorer_model, score) if scorer_model else [])
