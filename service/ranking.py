"""Pages of a ranking, by score (in the database, keyset-paged) or re-ranked from the expert labels (``feedback``).

The feedback ranking takes every object's newest score by a model and re-ranks it by active anomaly detection
(:mod:`models.feedback`) on the latent means the model stored, with the current expert labels. Objects like
those marked "known type" or "artefact" sink, objects like the "interesting" ones rise. The re-ranked scores are
computed in the API process and kept per model until a score or a label is added (a re-fit over every object of
the model; very large archives would store them instead). Models whose scores carry no latent mean (the feature
forests) cannot be re-ranked this way.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from coniferest.label import Label
from sqlalchemy.orm import Session

from models.feedback import KIND_LABELS, rerank
from service import crud
from service.db import Label as LabelRow
from service.db import ModelVersion, Score
from service.formats import decode_cursor, encode_cursor
from service.schemas import ScoreFilters

Ranking = Literal["score", "feedback"]


class FeedbackUnavailable(ValueError):
    """The model stores no latent means, so there is nothing to re-rank on."""


def feedback_scores(session: Session, model: ModelVersion, cache: dict) -> dict[int, float]:
    """Re-ranked score (higher = more anomalous) per score id of every object's newest score by ``model``."""
    stored = crud.latent_means(session=session, model=model)
    if not stored:
        raise FeedbackUnavailable(f"model {model.version!r} stores no latent means; rank by score instead")
    kinds, newest_label = crud.current_label_kinds(session=session)
    key = (len(stored), max(i for i, _pk, _m in stored), newest_label)
    hit = cache.get(model.id)
    if hit is not None and hit[0] == key:
        return hit[1]
    ids, pks, means = zip(*stored, strict=True)
    labels = np.array([int(KIND_LABELS.get(kinds.get(pk), Label.UNKNOWN)) for pk in pks])
    scores = dict(zip(ids, rerank(np.asarray(means, dtype=float), labels).tolist(), strict=True))
    cache[model.id] = (key, scores)
    return scores


def feedback_page(session: Session, model: ModelVersion, cache: dict, filters: ScoreFilters, offset: int,
                  limit: int) -> tuple[list[tuple[Score, str, LabelRow | None]], dict[int, float], int | None]:
    """One page of the re-ranked list under ``filters``: rows, the re-ranked scores, and the next page's offset."""
    scores = feedback_scores(session, model, cache)
    admitted = crud.matching_score_ids(session=session, model=model, filters=filters)
    ranked = sorted((i for i in admitted if i in scores), key=lambda i: (-scores[i], -i))
    page = ranked[offset:offset + limit]
    more = offset + limit < len(ranked)
    return crud.scores_by_ids(session=session, ids=page), scores, offset + limit if more else None


def ranked_page(session: Session, model: ModelVersion, cache: dict, filters: ScoreFilters, ranking: Ranking,
                cursor: str | None, limit: int
                ) -> tuple[list[tuple[Score, str, LabelRow | None]], dict[int, float], str | None]:
    """A page of either ranking: rows, re-ranked scores by score id (empty for "score"), the next page's cursor.

    The feedback ranking has one row per object (the scores it re-ranks are each object's newest) and pages by
    offset, since its order is not stored.
    """
    if ranking == "feedback":
        (offset,) = decode_cursor(cursor, (int,)) or (0,)
        per_object = filters.model_copy(update={"latest_only": True})
        rows, scores, following = feedback_page(session, model, cache, per_object, offset, limit)
        return rows, scores, encode_cursor([following]) if following is not None else None
    rows = crud.anomalies(session=session, model=model, filters=filters, after=decode_cursor(cursor, (float, int)),
                          limit=limit)
    last = rows[-1][0] if len(rows) == limit else None
    return rows, {}, encode_cursor([last.score, last.id]) if last else None
