"""A stored light curve's arrays as bytes (the ``lightcurves.arrays`` column), not as JSON text.

Every curve is written once when its batch is read and read back once when it is scored. As JSON (four lists, about
17 kB a CRTS curve) both ways were number formatting and parsing in Python's threads, and the database (SQLite's
write-ahead log, PostgreSQL's JSON check and TOAST compression) handled 2.5 times the bytes. Here the floats are
stored as they are in memory, so a curve reads back bit for bit what was scored and hashed.

Layout (little-endian): version byte, number of points ``n``, length of the band names; the distinct band names
(UTF-8, joined by U+001F); ``mjd``, ``mag``, ``mag_err`` as ``n`` float64 each; one uint16 band code per point.
"""

from __future__ import annotations

import struct

import numpy as np

VERSION = 1
HEADER = struct.Struct("<BII")
SEPARATOR = "\x1f"


class CurveBytesError(ValueError):
    """Bytes that are not a stored curve of a known layout."""


def encode(mjd: np.ndarray, mag: np.ndarray, mag_err: np.ndarray, band: np.ndarray) -> bytes:
    """The curve's arrays as bytes (see the module docstring)."""
    names = sorted(set(band.tolist()))
    if len(names) == 1:  # most curves: no search needed for the codes
        codes = np.zeros(len(band), dtype="<u2")
    else:
        codes = np.searchsorted(np.array(names, dtype=object), band).astype("<u2")
    text = SEPARATOR.join(map(str, names)).encode()
    values = np.concatenate([mjd, mag, mag_err]).astype("<f8", copy=False)
    return HEADER.pack(VERSION, len(mjd), len(text)) + text + values.tobytes() + codes.tobytes()


def decode(data: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(mjd, mag, mag_err, band) of bytes from :func:`encode`: writable float64 arrays and band names as objects.

    Raises
    ------
    CurveBytesError
        When the bytes have another layout version or the wrong length.
    """
    version, n, n_text = HEADER.unpack_from(data)
    start = HEADER.size + n_text
    if version != VERSION or len(data) != start + 26 * n:  # 3 float64 and one uint16 per point
        raise CurveBytesError(f"not a stored curve (layout {version}, {len(data)} bytes for {n} points)")
    names = np.array(bytes(data[HEADER.size:start]).decode().split(SEPARATOR), dtype=object)
    values = np.frombuffer(data, dtype="<f8", count=3 * n, offset=start).astype(np.float64)  # a writable copy
    codes = np.frombuffer(data, dtype="<u2", count=n, offset=start + 24 * n)
    return values[:n], values[n:2 * n], values[2 * n:], names[codes]
