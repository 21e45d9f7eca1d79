"""From request bodies to cleaned light curves, or to a reason naming the object and the field.

``POST /score`` sends validated :class:`~service.schemas.LightCurveCreate` objects; ``POST /batches`` sends JSON
lines, CSV or Parquet in the shared long layout. Every curve goes through :func:`models.lightcurve.clean` with the
:data:`~models.lightcurve.STRICT` policy (restricted to the configured bands): NaN, infinities, impossible times,
non-positive errors or fluxes and unknown bands are rejected with a reason; unsorted times are sorted and repeated
times dropped, and the :class:`~service.schemas.Cleaning` record says so.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import IO

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from models.lightcurve import STRICT, CleaningPolicy, LightCurve, LightCurveError, clean
from models.readers import lightcurves_from_frame
from service.schemas import Cleaning, CurveColumns, LightCurveCreate

JSONL_TYPES = ("application/x-ndjson", "application/jsonl", "application/x-jsonlines", "application/json")
CSV_TYPES = ("text/csv", "application/csv")
PARQUET_TYPES = ("application/vnd.apache.parquet", "application/x-parquet", "application/parquet")
PARQUET_MAGIC = b"PAR1"
TABLE_BLOCK_ROWS = 100_000  # rows of a CSV or Parquet body read at a time by a worker


MAX_OBJECT_ID = 256  # the width of objects.object_id: PostgreSQL enforces it, SQLite would not


class BodyError(ValueError):
    """A request body that cannot be read at all (as opposed to one bad light curve in it)."""


def printable(text: str, limit: int = MAX_OBJECT_ID) -> str:
    """``text`` cut to ``limit`` characters and safe to send back as UTF-8 JSON and store in PostgreSQL.

    Lone surrogates and NUL cannot be encoded or stored; they are shown as escapes, so a rejection can still name
    the object it rejects.
    """
    return text[:limit].encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


def check_object_id(object_id: str) -> None:
    """Refuse an identifier that SQLite and PostgreSQL would not store alike (``LightCurveError`` names it)."""
    shown = printable(object_id)
    if not object_id.strip():
        raise LightCurveError(shown, "object_id", "missing or blank")
    if len(object_id) > MAX_OBJECT_ID:
        raise LightCurveError(shown, "object_id", f"longer than {MAX_OBJECT_ID} characters ({len(object_id)})")
    if "\x00" in object_id:
        raise LightCurveError(shown, "object_id", "contains a NUL character")
    if shown != object_id:
        raise LightCurveError(shown, "object_id", "is not valid Unicode text (a lone surrogate)")


@dataclass
class Accepted:
    """A cleaned curve ready to store and score, with its content hash and what cleaning changed."""

    curve: LightCurve
    content_hash: str
    cleaning: Cleaning


def policy_for(bands: Iterable[str]) -> CleaningPolicy:
    """The API's policy: :data:`STRICT`, and only the configured band names."""
    return replace(STRICT, allowed_bands=frozenset(bands))


def content_hash(lc: LightCurve) -> str:
    """SHA-256 of what determines a score: object id, period and the cleaned arrays (float64, bands as text)."""
    digest = hashlib.sha256()
    digest.update(lc.object_id.encode())
    digest.update(b"\0" + repr(lc.period).encode() + b"\0")
    for array in (lc.mjd, lc.mag, lc.mag_err):
        digest.update(np.ascontiguousarray(array, dtype=np.float64).tobytes())
    digest.update("\x1f".join(lc.band.tolist()).encode())  # LightCurve keeps every band name a str
    return digest.hexdigest()


def to_lightcurve(item: CurveColumns, policy: CleaningPolicy) -> LightCurve:
    """Build the (uncleaned) curve the way every reader does (:meth:`LightCurve.from_columns`)."""
    return LightCurve.from_columns(item.object_id, item.mjd, mag=item.mag, mag_err=item.mag_err, flux=item.flux,
                                   flux_err=item.flux_err, band=item.band, policy=policy, period=item.period)


def clean_one(lc: LightCurve, policy: CleaningPolicy) -> Accepted:
    """Clean one curve strictly; raises :class:`LightCurveError` naming the object and the field."""
    bands = lc.bands
    by_band = [lc.mjd] if len(bands) == 1 else [lc.mjd[lc.band == b] for b in bands]
    was_sorted = all(np.all(np.diff(mjd) >= 0) for mjd in by_band)
    cleaned, counts = clean(lc, policy)
    cleaning = Cleaning(sorted=not was_sorted, removed={rule: int(n) for rule, n in counts.items() if n})
    return Accepted(cleaned, content_hash(cleaned), cleaning)


def accept(items: Iterable[CurveColumns | LightCurve | LightCurveError], policy: CleaningPolicy
           ) -> Iterator[Accepted | LightCurveError]:
    """Each item cleaned, or the error that rejects it; never raises for one bad curve."""
    for item in items:
        if isinstance(item, LightCurveError):
            yield item
            continue
        try:
            check_object_id(item.object_id)
            lc = to_lightcurve(item, policy) if isinstance(item, CurveColumns) else item
            yield clean_one(lc, policy)
        except LightCurveError as err:
            yield err


def validation_rejection(error: ErrorDetails, raw: object, fallback_id: str) -> LightCurveError:
    """The one converter of a pydantic error on one curve (``loc`` relative to the curve) into a rejection naming
    the object (if it sent one, else ``fallback_id``) and the field path (``mag.1``); JSON lines and ``/score``
    bodies both go through it."""
    object_id = raw.get("object_id") if isinstance(raw, dict) else None
    object_id = printable(str(object_id)) if object_id not in (None, "") else fallback_id
    return LightCurveError(object_id, ".".join(map(str, error["loc"])) or "body", error["msg"])


def detect_format(content_type: str | None, head: bytes) -> str:
    """'jsonl', 'csv' or 'parquet' from the Content-Type, or from the bytes when it is missing or generic."""
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind in PARQUET_TYPES or head.startswith(PARQUET_MAGIC):
        return "parquet"
    if kind in CSV_TYPES:
        return "csv"
    if kind in JSONL_TYPES or head.lstrip()[:1] in (b"{", b"["):
        return "jsonl"
    if kind in ("", "application/octet-stream", "text/plain"):
        return "csv"
    raise BodyError(f"unsupported Content-Type {kind!r}; send application/x-ndjson (JSON lines), text/csv or "
                    f"application/vnd.apache.parquet")


def read_batch(body: IO[bytes], fmt: str, policy: CleaningPolicy
               ) -> Iterator[CurveColumns | LightCurve | LightCurveError]:
    """Light curves of a stored batch body, lazily: a line of JSON at a time, or a block of table rows at a time
    (memory bounded by :data:`TABLE_BLOCK_ROWS`, not by the file). Raises BodyError while iterating when the body
    turns out unreadable."""
    if fmt == "jsonl":
        return _read_jsonl(body)
    return _read_table(_blocks(body, fmt, TABLE_BLOCK_ROWS), policy)


def probe(body: IO[bytes], fmt: str) -> None:
    """Refuse, cheaply, a table body that can never give a curve: unreadable, a required column missing, or a header
    only. Reads the CSV header and first row, or the Parquet footer and first row; JSON lines are judged line by line.

    Raises
    ------
    BodyError
        Naming what is wrong, for a 400 in the request rather than a failed batch later.
    """
    if fmt == "jsonl":
        return
    header = _header(body, fmt)
    if header is None:
        raise BodyError("no light curve in the body (a header or blank lines only)")
    try:
        list(lightcurves_from_frame(_coerced(header)))  # the readers' own column checks, on no rows
    except ValueError as err:
        raise BodyError(str(err)) from err


def _header(body: IO[bytes], fmt: str) -> pd.DataFrame | None:
    """The table's columns without rows (Parquet: from the footer alone), or None when it has no row."""
    if fmt == "parquet":
        try:
            table = pq.ParquetFile(body)
        except Exception as err:  # pyarrow raises many types for a malformed file
            raise _unreadable(fmt, err) from err
        return table.schema_arrow.empty_table().to_pandas() if table.metadata.num_rows else None
    first = next(_blocks(body, fmt, 1), None)
    return None if first is None or first.empty else first.iloc[:0]


def _unreadable(fmt: str, err: Exception) -> BodyError:
    return BodyError(f"cannot read the body as {fmt}: {str(err)[:200]}")


def _read_jsonl(body: IO[bytes]) -> Iterator[CurveColumns | LightCurveError]:
    for number, raw_line in enumerate(body, start=1):
        where = f"line {number}"
        try:
            line = raw_line.decode("utf-8")
        except UnicodeDecodeError as err:
            yield LightCurveError(where, "body", f"not valid UTF-8 (byte {err.start + 1} of the line)")
            continue
        if not line.strip():
            continue
        # A line without the bytes "true" or "false" holds no boolean, so it skips the boolean check (half the cost).
        schema = LightCurveCreate if b"true" in raw_line or b"false" in raw_line else CurveColumns
        try:  # parsed and validated in one pass by pydantic (NaN/Infinity tokens parse; cleaning rejects them)
            yield schema.model_validate_json(line)
        except ValidationError as err:
            yield validation_rejection(err.errors()[0], _parsed(line), where)


def _parsed(line: str) -> object:
    """The line as plain JSON, only to name the object of a rejected curve (None if it does not parse)."""
    try:
        return json.loads(line)
    except (ValueError, RecursionError):
        return None


def _blocks(body: IO[bytes], fmt: str, rows: int) -> Iterator[pd.DataFrame]:
    """The table ``rows`` rows at a time (CSV by pandas' chunked reader; Parquet by record batches, decoded a row
    group at a time)."""
    try:
        if fmt == "parquet":
            for record_batch in pq.ParquetFile(body).iter_batches(batch_size=rows):
                yield record_batch.to_pandas()
        else:  # keep_default_na=False: an object called "NA" stays "NA"; numeric columns are coerced below
            yield from pd.read_csv(body, dtype={"object_id": str, "band": str}, keep_default_na=False,
                                   chunksize=rows)
    except Exception as err:  # pandas and pyarrow raise many types for a malformed file
        raise _unreadable(fmt, err) from err


def _coerced(frame: pd.DataFrame) -> pd.DataFrame:
    """Ids as text (a missing id is blank, rejected by name, never the text "nan") and numbers as floats."""
    if "object_id" in frame.columns:
        frame["object_id"] = frame["object_id"].astype("string").fillna("").astype(str)
    for column in ("mjd", "mag", "mag_err", "flux", "flux_err", "period"):
        if column in frame.columns:
            if pd.api.types.is_bool_dtype(frame[column]):
                raise BodyError(f"column {column!r} holds booleans, not numbers")
            # A word where a number belongs becomes NaN, which the strict policy rejects naming the column.
            frame[column] = pd.to_numeric(frame[column], errors="coerce")
    return frame


def _read_table(blocks: Iterable[pd.DataFrame], policy: CleaningPolicy) -> Iterator[LightCurve | LightCurveError]:
    """Curves from blocks of rows. The last object of a block may go on in the next one, so its rows wait for it;
    an object whose rows come back after other objects' rows (further than a block) is rejected, not split."""
    carried: pd.DataFrame | None = None
    done: set[str] = set()
    for block in blocks:
        block = _coerced(block)
        if carried is not None:
            block, carried = pd.concat([carried, block], ignore_index=True), None
        if "object_id" in block.columns and not block.empty:
            ids = block["object_id"].to_numpy()
            tail = ids == ids[-1]
            carried, block = block[tail], block[~tail]
        yield from _frame_curves(block, policy, done)
    if carried is not None:
        yield from _frame_curves(carried, policy, done)


def _frame_curves(frame: pd.DataFrame, policy: CleaningPolicy, done: set[str]
                  ) -> Iterator[LightCurve | LightCurveError]:
    objects = None
    if "period" in frame.columns and "object_id" in frame.columns:
        objects = frame.groupby("object_id")[["period"]].first()
    try:
        for item in lightcurves_from_frame(frame.drop(columns=["period"], errors="ignore"), objects, policy):
            object_id = item.object_id
            if object_id in done:
                yield LightCurveError(printable(object_id), "object_id", "its rows are not together in the body; "
                                      "keep each object's rows in one run (or sort by object_id)")
                continue
            done.add(object_id)
            yield item
    except ValueError as err:  # a missing column: the whole body is unusable
        raise BodyError(str(err)) from err
