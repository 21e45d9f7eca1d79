"""Readers on the real shared files and on files written in each supported format."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.table import Table

from models.readers import read_dataset

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def test_crts_sample_loads_with_labels_and_periods():
    ds = read_dataset(DATA / "crts", limit=50)
    assert len(ds.lightcurves) == 50
    assert all(lc.label is not None and lc.period and lc.period > 0 for lc in ds.lightcurves)
    assert all(np.all(np.diff(lc.mjd) > 0) for lc in ds.lightcurves)


def test_crts_cleaning_counts_its_quirks():
    """The full set has impossible times and repeated times: counted, never fatal."""
    ds = read_dataset(DATA / "crts")
    assert ds.report.objects_kept == 11004
    assert ds.report.counts["impossible_time"] > 0
    assert ds.report.counts["duplicate_time"] > 5000
    assert "impossible_time=" in ds.report.summary()


def test_s82_is_multiband_with_catalogue_periods():
    ds = read_dataset(DATA / "s82_rrlyrae", limit=5)
    objects = pd.read_csv(DATA / "s82_rrlyrae" / "objects.csv", dtype={"object_id": str}).set_index("object_id")
    for lc in ds.lightcurves:
        assert lc.bands == ["g", "i", "r", "u", "z"]
        assert lc.period == pytest.approx(objects.loc[lc.object_id, "period"])


@pytest.fixture(scope="module")
def sample_frame():
    frame = pd.read_parquet(DATA / "s82_rrlyrae" / "lightcurves.parquet")
    ids = sorted(frame["object_id"].astype(str).unique())[:3]
    return frame[frame["object_id"].astype(str).isin(ids)].reset_index(drop=True)


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".ecsv", ".vot", ".fits"])
def test_every_format_gives_the_same_curves(tmp_path, sample_frame, suffix):
    path = tmp_path / f"obs{suffix}"
    if suffix == ".csv":
        sample_frame.to_csv(path, index=False)
    elif suffix == ".parquet":
        sample_frame.to_parquet(path)
    else:
        table = Table.from_pandas(sample_frame.astype({"object_id": str, "band": str}))
        table.write(path, format={".vot": "votable"}.get(suffix))
    ds = read_dataset(path)
    assert [lc.object_id for lc in ds.lightcurves] == sorted(sample_frame["object_id"].astype(str).unique())
    assert sum(len(lc) for lc in ds.lightcurves) + ds.report.counts["duplicate_time"] == len(sample_frame)


def test_flux_columns_are_converted(tmp_path):
    frame = pd.DataFrame({"object_id": ["a"] * 6, "mjd": 55000 + np.arange(6.0),
                          "flux": [10.0, 20, 30, -1, 40, 50], "flux_err": [1.0] * 6})
    frame.to_csv(tmp_path / "f.csv", index=False)
    ds = read_dataset(tmp_path / "f.csv")
    (lc,) = ds.lightcurves
    assert len(lc) == 5 and lc.mag[0] > lc.mag[-1]
    assert ds.report.counts["non_positive_flux"] == 1


def test_missing_column_is_named(tmp_path):
    pd.DataFrame({"object_id": ["a"], "mjd": [1.0], "mag": [1.0]}).to_csv(tmp_path / "x.csv", index=False)
    with pytest.raises(ValueError, match="missing column 'mag_err'"):
        read_dataset(tmp_path / "x.csv")


def test_a_period_table_replaces_the_sets_periods_for_the_objects_it_lists(tmp_path):
    own = read_dataset(DATA / "crts", limit=5)
    ids = [lc.object_id for lc in own.lightcurves]
    table = tmp_path / "periods.csv"
    pd.DataFrame({"object_id": ids[:2], "period": [0.0812, 0.3333], "power": [0.5, 0.4]}).to_csv(table, index=False)
    ds = read_dataset(DATA / "crts", limit=5, periods=table)
    assert [lc.period for lc in ds.lightcurves[:2]] == [0.0812, 0.3333]
    assert [lc.period for lc in ds.lightcurves[2:]] == [lc.period for lc in own.lightcurves[2:]]
    assert [lc.label for lc in ds.lightcurves] == [lc.label for lc in own.lightcurves]


def test_a_period_table_without_its_columns_or_with_repeats_is_refused(tmp_path):
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"object_id": ["a"], "p": [1.0]}).to_csv(bad, index=False)
    with pytest.raises(ValueError, match=r"missing \['period'\]"):
        read_dataset(DATA / "crts", limit=2, periods=bad)
    pd.DataFrame({"object_id": ["a", "a"], "period": [1.0, 2.0]}).to_csv(bad, index=False)
    with pytest.raises(ValueError, match=r"\['a'\] listed more than once"):
        read_dataset(DATA / "crts", limit=2, periods=bad)
