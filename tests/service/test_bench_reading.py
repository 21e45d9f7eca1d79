"""``lcad bench reading`` reads every format back into the curves it was built from."""

from __future__ import annotations

import argparse

import pytest

from service.bench import reading


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_every_curve_of_the_body_is_read_back(fmt):
    args = argparse.Namespace(data="../shared/data/crts", n_curves=12, format=fmt, repeats=1)
    result = reading.run(args)
    assert result["n_curves"] == result["accepted"] == 12 and result["curves_per_s"] > 0
