"""Stored curve arrays as bytes: what is read back is bit for bit what was stored."""

from __future__ import annotations

import numpy as np
import pytest

from service import curve_bytes


def test_a_multiband_curve_comes_back_bit_for_bit():
    rng = np.random.default_rng(0)
    mjd, mag, mag_err = (rng.normal(size=50) * scale for scale in (1e4, 20.0, 0.1))
    band = np.array(["r", "g", "i", "g", "r"] * 10, dtype=object)
    back = curve_bytes.decode(curve_bytes.encode(mjd, mag, mag_err, band))
    for sent, got in zip((mjd, mag, mag_err), back[:3], strict=True):
        assert got.dtype == np.float64 and got.tobytes() == sent.tobytes() and got.flags.writeable
    assert back[3].tolist() == band.tolist()


def test_one_band_and_no_points():
    one = curve_bytes.decode(curve_bytes.encode(np.arange(3.0), np.ones(3), np.ones(3), np.array(["clear"] * 3)))
    assert one[3].tolist() == ["clear"] * 3 and one[0].tolist() == [0.0, 1.0, 2.0]
    empty = curve_bytes.decode(curve_bytes.encode(*(np.zeros(0),) * 3, np.array([], dtype=object)))
    assert [len(a) for a in empty] == [0, 0, 0, 0]


def test_bytes_of_another_layout_are_refused():
    data = curve_bytes.encode(np.arange(3.0), np.ones(3), np.ones(3), np.array(["g"] * 3))
    with pytest.raises(curve_bytes.CurveBytesError):
        curve_bytes.decode(data[:-1])
    with pytest.raises(curve_bytes.CurveBytesError):
        curve_bytes.decode(b"\x02" + data[1:])
