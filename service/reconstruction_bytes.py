"""A score's reconstruction as bytes (the ``scores.reconstruction`` column): its arrays as float32, the rest as JSON.

A reconstruction (``NeuralScorer.reconstruction``: the folded points and the model's prediction at each, the
induction points with their uncertainty) is five to seven arrays of a few hundred numbers per band. As JSON text it
was about 20 kB a CRTS curve, five times the size of the float32 values the model computed, and every byte of it
went through the database's write-ahead log: on PostgreSQL, storing them cost a batch of 5000 curves about 0.6 s of
server CPU on the cores the model shares (``docs/profile_service.md``, session 11). Here each list of numbers in a
band is stored as little-endian float32 (the precision the model computes in) and everything else as JSON.

Layout: ``MAGIC``, the length of the JSON header (uint32, little-endian), the header, then the arrays in the
header's order. In the header each band is ``{"arrays": {name: length, ...}, "values": {name: value, ...}}``.
Bytes without ``MAGIC`` are a reconstruction's JSON text, as stored before this layout (migration 0009).
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import orjson

MAGIC = b"LCR1"
LENGTH = struct.Struct("<I")
FLOAT = np.dtype("<f4")


def encode(reconstruction: dict[str, Any], dumps) -> bytes:
    """The reconstruction as bytes; ``dumps`` writes its JSON part (the database's JSON writer)."""
    header = {key: value for key, value in reconstruction.items() if key != "bands"}
    header["bands"], arrays = {}, []
    for band, fields in (reconstruction.get("bands") or {}).items():
        lengths, values = {}, {}
        for name, value in fields.items():
            array = _floats(value)
            if array is None:
                values[name] = value
            else:
                lengths[name] = len(array)
                arrays.append(array)
        header["bands"][band] = {"arrays": lengths, "values": values}
    text = dumps(header)
    return MAGIC + LENGTH.pack(len(text)) + text + b"".join(a.tobytes() for a in arrays)


def decode(data: bytes) -> dict[str, Any]:
    """The reconstruction from :func:`encode`'s bytes (or from its JSON text, as stored before); numbers that are not
    finite come back as ``None``, as JSON writes them."""
    if not data.startswith(MAGIC):
        return orjson.loads(data)
    (n_text,) = LENGTH.unpack_from(data, len(MAGIC))
    offset = len(MAGIC) + LENGTH.size
    header = orjson.loads(data[offset:offset + n_text])
    offset += n_text
    bands = {}
    for band, parts in header["bands"].items():
        fields = {}
        for name, length in parts["arrays"].items():
            fields[name] = _as_list(np.frombuffer(data, dtype=FLOAT, count=length, offset=offset))
            offset += FLOAT.itemsize * length
        bands[band] = fields | parts["values"]
    return header | {"bands": bands}


def _floats(value: Any) -> np.ndarray | None:
    """A flat list of numbers as float32, or None for anything else (kept as JSON; booleans stay booleans)."""
    if not isinstance(value, list) or (value and isinstance(value[0], bool)):
        return None
    try:
        array = np.asarray(value, dtype=FLOAT)
    except (TypeError, ValueError):  # strings, mappings, ragged lists
        return None
    return array if array.ndim == 1 else None


def _as_list(array: np.ndarray) -> list[float | None]:
    finite = np.isfinite(array)
    if finite.all():
        return array.tolist()
    values = array.astype(object)
    values[~finite] = None
    return values.tolist()
