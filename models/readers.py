"""Readers: every supported file layout becomes a list of cleaned :class:`LightCurve` plus a cleaning report.

Supported inputs (long format, one row per observation, columns named as in the shared layout):

- a directory holding ``lightcurves.parquet`` and optionally ``objects.csv`` (``object_id``, ``class``, and a period
  column: ``period`` when the catalogue gives one, else ``period_ls``);
- a single ``.parquet`` or ``.csv`` file;
- any table astropy reads (``.ecsv``, ``.vot``/``.xml``, ``.fits``/``.fit``, ``.hdf5``).

Columns: ``object_id``, ``mjd``, either ``mag`` + ``mag_err`` or ``flux`` + ``flux_err``, optional ``band``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import numpy as np
import pandas as pd

from models.lightcurve import LENIENT, CleaningPolicy, CleaningReport, LightCurve, LightCurveError, clean_many

PERIOD_COLUMNS = ("period", "period_ls")  # first present wins: a catalogue period beats a computed one
_ASTROPY_SUFFIXES = {".ecsv", ".vot", ".xml", ".fits", ".fit", ".hdf5", ".h5"}


@dataclass
class Dataset:
    """Cleaned curves of one set, with their labels where the set has them."""

    name: str
    lightcurves: list[LightCurve]
    report: CleaningReport

    @property
    def labels(self) -> np.ndarray:
        return np.array([lc.label for lc in self.lightcurves], dtype=object)

    @property
    def classes(self) -> list[str]:
        return sorted({lc.label for lc in self.lightcurves if lc.label is not None})


def read_table(path: Path) -> pd.DataFrame:
    """Any supported observation table as a DataFrame."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return pd.read_parquet(path)
    if suffix == ".csv":
        return pd.read_csv(path, dtype={"object_id": str, "band": str})
    if suffix in _ASTROPY_SUFFIXES:
        from astropy.table import Table

        return Table.read(path).to_pandas()
    raise ValueError(f"{path}: unsupported file type {suffix!r}; use a directory in the shared layout, "
                     f".parquet, .csv, or an astropy table ({', '.join(sorted(_ASTROPY_SUFFIXES))})")


def read_objects(path: Path) -> pd.DataFrame | None:
    """The per-object table (labels, periods) beside an observation table, if there is one."""
    candidates = [path / "objects.csv"] if path.is_dir() else [path.with_name("objects.csv")]
    for candidate in candidates:
        if candidate.exists():
            return pd.read_csv(candidate, dtype={"object_id": str}).set_index("object_id")
    return None


def lightcurves_from_frame(obs: pd.DataFrame, objects: pd.DataFrame | None = None,
                           policy: CleaningPolicy | None = None) -> Iterator[LightCurve | LightCurveError]:
    """Split a long observation table into curves (uncleaned), attaching labels and periods from ``objects``.

    Each object becomes a curve through :meth:`LightCurve.from_columns`, or the error naming why it cannot (say,
    magnitudes and fluxes both given); ``policy`` is passed on for the flux conversion.

    Raises
    ------
    ValueError
        When a required column is missing, naming it.
    """
    if "object_id" not in obs.columns:
        raise ValueError(f"missing column 'object_id'; columns present: {list(obs.columns)}")
    photometry = [c for c in ("mag", "mag_err", "flux", "flux_err") if c in obs.columns]
    both = "mag" in obs.columns and "flux" in obs.columns
    required = ("mjd", "mag", "mag_err") if "mag" in obs.columns or "flux" not in obs.columns else \
        ("mjd", "flux", "flux_err")
    for column in required:
        if column not in obs.columns:
            raise ValueError(f"missing column {column!r}; columns present: {list(obs.columns)}")
    if obs.empty:  # a table with only a header holds no curve
        return
    obs = obs.assign(object_id=obs["object_id"].astype(str)).sort_values("object_id", kind="stable")
    ids = obs["object_id"].to_numpy()
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    bounds = np.r_[starts, len(ids)]
    arrays = {c: obs[c].to_numpy(dtype=np.float64) for c in ("mjd", *photometry)}
    bands = obs["band"].to_numpy() if "band" in obs.columns else None
    period_column = next((c for c in PERIOD_COLUMNS if objects is not None and c in objects.columns), None)
    for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
        object_id = ids[start]
        columns = {c: arrays[c][start:stop] for c in photometry}
        if both:  # in a table with magnitude and flux columns, an object uses the pair it fills
            columns = {c: v for c, v in columns.items() if not np.isnan(v).all()}
        band = None if bands is None else bands[start:stop]
        meta = _object_meta(objects, object_id, period_column)
        try:
            yield _curve(object_id, arrays["mjd"][start:stop], columns, band, policy, meta)
        except LightCurveError as err:
            yield err


def _curve(object_id: str, mjd: np.ndarray, columns: dict, band, policy: CleaningPolicy | None,
           meta: dict) -> LightCurve:
    try:
        return LightCurve.from_columns(object_id, mjd, band=band, policy=policy, **columns, **meta)
    except LightCurveError as err:
        if err.field != "period":
            raise
        # A bad catalogue period must not cost the photometry: keep the curve and let the period be searched.
        return LightCurve.from_columns(object_id, mjd, band=band, policy=policy, label=meta.get("label"), **columns)


def _object_meta(objects: pd.DataFrame | None, object_id: str, period_column: str | None) -> dict:
    if objects is None or object_id not in objects.index:
        return {}
    row = objects.loc[object_id]
    meta: dict = {}
    if "class" in objects.columns and pd.notna(row["class"]):
        meta["label"] = str(row["class"])
    if period_column is not None and pd.notna(row[period_column]):
        meta["period"] = float(row[period_column])
    return meta


def read_periods(path: str | Path) -> pd.Series:
    """Periods by object id from a table with ``object_id`` and ``period`` columns (what ``lcad periods`` writes).

    Raises
    ------
    ValueError
        When a column is missing or an object id repeats, naming them.
    """
    table = read_table(Path(path))
    missing = [c for c in ("object_id", "period") if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: a period table needs columns 'object_id' and 'period'; missing {missing}")
    ids = table["object_id"].astype(str)
    repeated = ids[ids.duplicated()].unique().tolist()
    if repeated:
        raise ValueError(f"{path}: object(s) {repeated[:5]} listed more than once")
    return pd.Series(table["period"].to_numpy(dtype=float), index=ids.to_numpy(), name="period")


def with_period_table(objects: pd.DataFrame | None, periods: pd.Series) -> pd.DataFrame:
    """``objects`` whose ``period`` column is taken from ``periods`` where it lists the object (it then wins over any
    catalogue or ``period_ls`` period); objects it does not list keep their own period."""
    objects = pd.DataFrame(index=pd.Index(periods.index, name="object_id")) if objects is None else objects.copy()
    own = next((objects[c] for c in PERIOD_COLUMNS if c in objects.columns), pd.Series(np.nan, index=objects.index))
    objects = objects.reindex(objects.index.union(periods.index))
    objects["period"] = periods.reindex(objects.index).fillna(own.reindex(objects.index))
    return objects


def read_dataset(path: str | Path, policy: CleaningPolicy = LENIENT, limit: int | None = None,
                 periods: str | Path | None = None) -> Dataset:
    """Read and clean a light-curve set; ``limit`` keeps the first N objects (by object id) for quick runs.

    ``periods`` names a period table (:func:`read_periods`) that replaces the set's own periods, e.g. periods searched
    by lcad where the set's are aliases.
    """
    path = Path(path)
    if path.is_dir():
        table = path / "lightcurves.parquet"
        if not table.exists():
            raise FileNotFoundError(f"{path}: no lightcurves.parquet in this directory (the shared layout)")
    elif path.exists():
        table = path
    else:
        raise FileNotFoundError(f"{path}: no such file or directory")
    objects = read_objects(path)
    if periods is not None:
        objects = with_period_table(objects, read_periods(periods))
    curves = lightcurves_from_frame(read_table(table), objects)
    if limit is not None:
        curves = islice(curves, limit)
    kept, report = clean_many(curves, policy)
    name = path.name if path.is_dir() else path.stem
    return Dataset(name=name, lightcurves=kept, report=report)
