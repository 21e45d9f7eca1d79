"""One object's folded light curve with the model's reconstruction, in magnitudes (``GET /objects/{id}/plot.png``
and the object page).

A stored LC-VaDE reconstruction is drawn by :func:`models.plots.plot_reconstruction` (folded data, predicted mean
± error, induction points with their errors, in magnitudes, with the period used). Scorers without a reconstruction
get the folded curve alone in magnitudes (or the raw curve when no period is known).
"""

from __future__ import annotations

import io
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on a server; must precede pyplot

import matplotlib.pyplot as plt  # noqa: E402

from models.lightcurve import LightCurve  # noqa: E402
from models.plots import plot_reconstruction  # noqa: E402
from models.preprocessing.folding import fold  # noqa: E402
from models.scorers.base import ObjectScore  # noqa: E402


def draw_folded(ax: plt.Axes, lc: LightCurve, reconstruction: dict[str, Any] | None, title: str,
                period: float | None, period_source: str | None = None) -> None:
    """The folded curve (reconstruction included when stored) in magnitudes, brighter up."""
    if (reconstruction or {}).get("bands"):
        # The model helper's figure for one object, with the period the score used.
        plot_reconstruction(ax, ObjectScore(lc.object_id, float("nan"), reconstruction=reconstruction,
                                            period=period, period_source=period_source), title)
    else:
        for band in lc.bands:
            t, m, e = lc.band_arrays(band)
            ax.errorbar(fold(t, period) if period else t, m, e, fmt=".", ms=3, lw=0.5, label=band)
        ax.invert_yaxis()  # magnitudes: brighter is up
        source = f", {period_source}" if period_source else ""
        ax.set_xlabel(f"phase (period {period:.6g} d{source})" if period else "MJD")
        ax.set_ylabel("magnitude")
        ax.set_title(title, fontsize=9)
    ax.legend(fontsize=6, loc="best")


def plot_png(lc: LightCurve, reconstruction: dict[str, Any] | None, title: str, period: float | None = None,
             period_source: str | None = None) -> bytes:
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    draw_folded(ax, lc, reconstruction, title, period or lc.period, period_source)
    return png_bytes(fig)


def png_bytes(fig) -> bytes:
    """The figure as PNG bytes; closes it (a server draws thousands of figures)."""
    try:
        buffer = io.BytesIO()
        fig.tight_layout()
        fig.savefig(buffer, format="png")
        return buffer.getvalue()
    finally:
        plt.close(fig)
