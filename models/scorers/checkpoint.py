"""Scorer files that run no code when read: ``torch.load(weights_only=True)`` over plain containers and tensors.

A scorer file is one dict ``{"format", "scorer", "state"}`` written by ``torch.save``. Its state may nest dicts,
lists, tuples, str, int, float, bool, None, bytes, tensors and numpy arrays to any depth; anything else (a fitted
estimator, a dataclass, a str subclass) is refused when writing, so every file this module writes is readable by
PyTorch's restricted unpickler, which builds only those types and never imports or calls anything named in the
file. Numpy arrays travel as tensors under a marker key and come back as arrays; numpy scalars become Python ones.
Fitted scikit-learn forests are stored by their scorers as skops bytes (see :mod:`models.scorers.feature_forest`).

Reading can also check the file's SHA-256 against the one recorded when the file was registered, on the very bytes
it then parses (no window between check and use).
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.torch_version import TorchVersion

CHECKPOINT_FORMAT = 1
NDARRAY = "__lcad_ndarray__"  # {NDARRAY: tensor}: a numpy array in a state
# Files written before this module stored torch.__version__ as TorchVersion, a str subclass: harmless to rebuild.
LEGACY_GLOBALS = [TorchVersion]


class CheckpointError(ValueError):
    """A file that is not a safe lcad scorer file (wrong format, unsafe content, changed since registration)."""


def to_safe(value: Any, where: str = "state") -> Any:
    """A copy of ``value`` made only of the types the restricted unpickler rebuilds; ``TypeError`` otherwise."""
    if value is None or type(value) in (bool, int, float, str, bytes):
        return value
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biufc":
            return to_safe(value.tolist(), where)
        return {NDARRAY: torch.tensor(value)}
    if isinstance(value, np.generic):
        return to_safe(value.item(), where)
    for plain in (str, int, float):  # subclasses (torch.__version__, IntEnum) would be pickled by class name
        if isinstance(value, plain):
            return plain(value)
    if isinstance(value, dict):
        return {_key(k, where): to_safe(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list | tuple):
        items = [to_safe(v, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if isinstance(value, tuple) else items
    raise TypeError(f"{where}: a {type(value).__module__}.{type(value).__qualname__} cannot be stored in a scorer "
                    "file (plain containers, numbers, strings, bytes, tensors and numpy arrays only)")


def _key(key: Any, where: str) -> str | int:
    if type(key) in (str, int):
        return key
    raise TypeError(f"{where}: dict key {key!r} is neither str nor int")


def from_safe(value: Any) -> Any:
    """Inverse of :func:`to_safe`: marked tensors become numpy arrays again."""
    if isinstance(value, dict):
        if set(value) == {NDARRAY}:
            return value[NDARRAY].numpy()
        return {k: from_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        items = [from_safe(v) for v in value]
        return tuple(items) if isinstance(value, tuple) else items
    return value


def write_checkpoint(path: str | Path, scorer: str, state: dict[str, Any]) -> None:
    """Write a scorer file; raises ``TypeError`` naming the first entry of ``state`` that would need code to read."""
    torch.save({"format": CHECKPOINT_FORMAT, "scorer": scorer, "state": to_safe(state)}, Path(path))


def read_checkpoint(path: str | Path, sha256: str | None = None) -> dict[str, Any]:
    """Read a scorer file without running code from it; with ``sha256``, refuse a file whose bytes changed.

    Raises
    ------
    OSError
        When the file cannot be read.
    CheckpointError
        When the hash differs, or the file is not a safe lcad scorer file of the current format.
    """
    data = Path(path).read_bytes()
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise CheckpointError(f"{Path(path).name}: the file changed since it was registered (SHA-256 differs)")
    try:
        with torch.serialization.safe_globals(LEGACY_GLOBALS):
            checkpoint = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as err:  # the restricted unpickler raises UnpicklingError, RuntimeError, ... on foreign files
        raise CheckpointError(f"{Path(path).name}: not a safe lcad scorer file ({type(err).__name__})") from err
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != CHECKPOINT_FORMAT \
            or not isinstance(checkpoint.get("scorer"), str) or not isinstance(checkpoint.get("state"), dict):
        raise CheckpointError(f"{Path(path).name}: not an lcad scorer file of format {CHECKPOINT_FORMAT}")
    return {**checkpoint, "state": from_safe(checkpoint["state"])}
