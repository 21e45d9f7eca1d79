"""Tabular answers (CSV, Parquet, VOTable) of score lists, and opaque pagination cursors.

JSON answers go through the ``*Public`` schemas; the tabular formats flatten each score into one row: the score,
the most likely class, one ``term_<name>`` column per score term and one ``p_<class>`` column per class
probability. The next page's cursor travels in the ``X-Next-Cursor`` header (and a ``Link: rel="next"``).
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Sequence

import pandas as pd
from fastapi import Response

from service.schemas import ScorePublic

MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
    "votable": "application/x-votable+xml",
}


class CursorError(ValueError):
    """A cursor that this service did not issue (or for another listing)."""


def encode_cursor(values: Sequence) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(values)).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, types: Sequence[type]) -> tuple | None:
    """The values of a cursor, converted to ``types``; raises :class:`CursorError` for anything else."""
    if cursor is None:
        return None
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(values, list) or len(values) != len(types):
            raise ValueError("wrong length")
        return tuple(kind(v) for kind, v in zip(types, values, strict=True))
    except (ValueError, TypeError, UnicodeDecodeError) as err:
        raise CursorError("invalid cursor; pass back the next_cursor of the previous page unchanged") from err


# The fixed columns and their types: an empty page has the same schema as a full one.
COLUMNS = {"object_id": "string", "model": "string", "anomaly_score": "float64", "predicted_class": "string",
           "period": "float64", "period_source": "string", "flags": "string", "content_hash": "string",
           "scored_at": "string", "label": "string", "label_class": "string", "label_note": "string"}


def score_frame(scores: Sequence[ScorePublic]) -> pd.DataFrame:
    rows = []
    for s in scores:
        row = {"object_id": s.object_id, "model": s.model, "anomaly_score": s.anomaly_score,
               # NaN, not None, for a missing period: VOTable cannot type a column of None.
               "predicted_class": s.predicted_class or "", "period": float("nan") if s.period is None else s.period,
               "period_source": s.period_source or "", "flags": " ".join(s.flags), "content_hash": s.content_hash,
               "scored_at": s.scored_at.isoformat(), "label": s.label or "", "label_class": s.label_class or "",
               "label_note": s.label_note or ""}
        if s.feedback_score is not None:
            row["feedback_score"] = s.feedback_score
        row.update({f"term_{k}": v for k, v in (s.terms or {}).items()})
        row.update({f"p_{k}": v for k, v in (s.class_posterior or {}).items()})
        rows.append(row)
    frame = pd.DataFrame(rows, columns=None if rows else list(COLUMNS))
    return frame.astype({**{c: "float64" for c in frame.columns if c not in COLUMNS}, **COLUMNS})


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # what spreadsheets evaluate (OWASP "CSV injection")


def defuse_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """Text cells and headers that a spreadsheet would run as a formula, prefixed with ``'`` so they stay text."""

    def defuse(value):
        return "'" + value if isinstance(value, str) and value.startswith(FORMULA_START) else value

    text = frame.select_dtypes(include=["object", "string"]).columns
    return frame.assign(**{c: frame[c].map(defuse) for c in text}).rename(columns=defuse)


def tabular_response(scores: Sequence[ScorePublic], fmt: str, next_cursor: str | None, next_url: str | None
                     ) -> Response:
    frame = score_frame(scores)
    if fmt == "csv":
        body = defuse_formulas(frame).to_csv(index=False).encode()
    elif fmt == "parquet":
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        body = buffer.getvalue()
    else:
        body = _votable(frame)
    headers = {}
    if next_cursor:
        headers["X-Next-Cursor"] = next_cursor
        if next_url:
            headers["Link"] = f'<{next_url}>; rel="next"'
    return Response(body, media_type=MEDIA_TYPES[fmt], headers=headers)


def _votable(frame: pd.DataFrame) -> bytes:
    from astropy.table import Table

    # Built column by column: astropy would type an empty text column as float.
    table = Table([frame[c].to_numpy(dtype=str if COLUMNS.get(c) == "string" else "float64") for c in frame.columns],
                  names=list(frame.columns))
    table.meta["description"] = "lcad anomaly scores (higher = more anomalous)"
    buffer = io.BytesIO()
    table.write(buffer, format="votable")
    return buffer.getvalue()
