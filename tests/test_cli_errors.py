"""CLI failures print one line, not a traceback; a table with only a header is an empty result, not a crash."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from models.readers import read_dataset
from models.scorers import get_scorer
from service.cli import main

CRTS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "crts"


def test_a_failing_command_prints_one_line(tmp_path, capsys):
    missing = tmp_path / "missing"
    assert main(["periods", "--data", str(missing), "--out", str(tmp_path / "p.csv")]) == 1
    assert capsys.readouterr().err.strip().splitlines() == [f"lcad periods: {missing}: no such file or directory"]


def test_scoring_a_csv_with_only_a_header_writes_an_empty_table(tmp_path):
    data = read_dataset(CRTS, limit=60)
    model = tmp_path / "iforest.pt"
    get_scorer("iforest", n_estimators=10, n_jobs=1).fit(data.lightcurves, data.labels).save(model)
    (tmp_path / "empty.csv").write_text("object_id,mjd,mag,mag_err\n")
    out = tmp_path / "scores.parquet"
    assert main(["score", "--model", str(model), "--data", str(tmp_path / "empty.csv"), "--out", str(out)]) == 0
    assert len(pd.read_parquet(out)) == 0
