"""``POST /score``: a few light curves scored now, all or nothing."""

from __future__ import annotations

import logging

from fastapi import APIRouter, HTTPException

from models.lightcurve import LightCurveError
from service import metrics
from service.api.deps import SessionDep, StateDep, SubmitDep, model_or_error
from service.api.errors import CurvesRejected
from service.crud import finite_or_none
from service.ingest import accept, policy_for
from service.schemas import ObjectScorePublic, ScoreRequest, ScoreResponse, error
from service.scoring import score_accepted

router = APIRouter(tags=["score"])
log = logging.getLogger(__name__)

REJECTED = error("a light curve was rejected (reasons name the object and the field) or malformed",
                 content={"application/json": {"example": {
                     "detail": "1 light curve(s) rejected; nothing was scored",
                     "rejected": [{"object_id": "star-1", "field": "mag_err", "reason": "1 value(s) are zero or "
                                                                                       "negative"}]}}})
TOO_LARGE = error("too many curves or too large a body: use POST /batches")


@router.post("/score", response_model=ScoreResponse, responses={413: TOO_LARGE, 422: REJECTED})
def score(request: ScoreRequest, session: SessionDep, state: StateDep, _: SubmitDep) -> ScoreResponse:
    """Score one or a few light curves synchronously: score, its terms, the likely class and the reconstruction."""
    limit = state.settings.score_max_curves
    if len(request.lightcurves) > limit:
        raise HTTPException(413, f"{len(request.lightcurves)} light curves exceed the limit of {limit} for /score; "
                                 "submit them as a batch: POST /batches")
    items = list(accept(request.lightcurves, policy_for(state.settings.allowed_bands)))
    rejected = [item for item in items if isinstance(item, LightCurveError)]
    if rejected:
        metrics.CURVES_REJECTED.labels(endpoint="score").inc(len(rejected))
        raise CurvesRejected(rejected)
    model = model_or_error(session, request.model)
    try:
        scorer = state.cache.get(model)
    except Exception as err:  # logged with its cause; the caller learns only that the model is unavailable
        log.exception("model %s cannot be loaded", model.version)
        raise HTTPException(503, f"model {model.version} cannot be loaded; see GET /readyz") from err
    unscorable = [error for error in scorer.unscorable([a.curve for a in items]) if error is not None]
    if unscorable:
        metrics.CURVES_REJECTED.labels(endpoint="score").inc(len(unscorable))
        raise CurvesRejected(unscorable)
    results, errors = score_accepted(session=session, scorer=scorer, model=model, accepted=items)
    reasons = iter(e.reason for e in errors)  # one per unscored curve, in input order
    data = [ObjectScorePublic(
        object_id=a.curve.object_id, model=model.version, anomaly_score=r.score if r else None,
        terms=finite_or_none(r.terms) if r else {}, predicted_class=r.predicted_class if r else None,
        class_posterior=finite_or_none(r.class_posterior) if r else None, period=r.period if r else None,
        period_source=r.period_source if r else None, flags=r.flags if r else [],
        reconstruction=finite_or_none(r.reconstruction) if r else None, cleaning=a.cleaning,
        reason=None if r else next(reasons))
        for a, r in zip(items, results, strict=True)]
    return ScoreResponse(model=model.version, data=data, count=len(data))
