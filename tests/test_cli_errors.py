"""CLI failures print one line, not a traceback; a table with only a header is an empty result, not a crash."""

from __future__ import annotations

import pandas as pd

from service.cli import main


def test_a_failing_command_prints_one_line(tmp_path, capsys):
    missing = tmp_path / "missing"
    assert main(["score", "--data", str(missing), "--out", str(tmp_path / "o.parquet")]) == 1
    assert capsys.readouterr().err.strip().splitlines() == [f"lcad score: {missing}: no such file or directory"]


def test_scoring_a_csv_with_only_a_header_writes_an_empty_table(tmp_path):
    (tmp_path / "empty.csv").write_text("object_id,mjd,mag,mag_err\n")
    out = tmp_path / "scores.parquet"
    assert main(["score", "--data", str(tmp_path / "empty.csv"), "--out", str(out)]) == 0
    assert len(pd.read_parquet(out)) == 0
