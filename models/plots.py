"""Figures of a trained scorer, after thesis figures 9.5 (score histograms), 9.6 (reconstructions per class) and 9.8
(lowest and highest scored objects).

Reconstructions are drawn in real magnitudes (the model's normalised units ``(mag - m)/s`` mapped back with each
band's m and s), growing downwards as astronomers plot them, against phase at the period the curve was folded at.
Scorers that return no reconstruction get the histogram only.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from models.lightcurve import LightCurve  # noqa: E402
from models.scorers.base import ObjectScore, Scorer  # noqa: E402


def in_magnitudes(band: dict[str, Any]) -> dict[str, np.ndarray]:
    """One band of a stored LC-VaDE reconstruction in real magnitudes: mag = mean + std * normalised value.

    The model works on ``(mag - mean_mag) / std_mag`` per band; the reconstruction keeps both numbers, so values go
    back by the affine map and errors by the factor ``std_mag`` alone.
    """
    mean, std = float(band.get("mean_mag", 0.0)), float(band.get("std_mag", 1.0))
    values = {k: mean + std * np.asarray(band[k], dtype=float) for k in ("mag", "mu_hat", "mu_ind")}
    errors = {k: std * np.asarray(band[k], dtype=float) for k in ("err", "sigma_hat", "sigma_ind")}
    return {"phase": np.asarray(band["phase"], dtype=float)} | values | errors


def plot_reconstruction(ax: plt.Axes, obj: ObjectScore, title: str | None = None) -> None:
    """Folded data with error bars, the predicted mean ± error band and the induction points with their errors, in
    magnitudes (thesis figures 9.6-9.9), with the period and where it came from on the phase axis."""
    recon = obj.reconstruction or {}
    for i, (band, stored) in enumerate(recon.get("bands", {}).items()):
        if not stored["phase"]:
            continue
        r = in_magnitudes(stored)
        ax.errorbar(r["phase"], r["mag"], yerr=r["err"], fmt=".", ms=3, lw=0.5, color="0.4", label=f"data {band}")
        ax.plot(r["phase"], r["mu_hat"], color=f"C{i}", lw=1, label=f"predicted mean {band}")
        ax.fill_between(r["phase"], r["mu_hat"] - r["sigma_hat"], r["mu_hat"] + r["sigma_hat"], color=f"C{i}",
                        alpha=0.25, label="± error")
        ax.errorbar(recon["t_induction"], r["mu_ind"], yerr=r["sigma_ind"], fmt="o", ms=3, color="C3", lw=0.8,
                    label="induction points")
    ax.invert_yaxis()
    period = obj.period or recon.get("period")
    source = f", {obj.period_source}" if obj.period_source else ""
    ax.set_xlabel(f"phase (period {period:.6g} d{source})" if period else "phase")
    ax.set_ylabel("magnitude")
    ax.set_title(title or obj.object_id, fontsize=8)


def _grid(n: int) -> tuple[plt.Figure, np.ndarray]:
    cols = min(n, 3)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.0 * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes.flat


def reconstructions_figure(objects: Sequence[ObjectScore], labels: Sequence[str | None],
                           rng: np.random.Generator) -> plt.Figure:
    """One random object per class (figure 9.6)."""
    classes = sorted({c for c in labels if c is not None})
    fig, axes = _grid(len(classes))
    for ax, c in zip(axes, classes, strict=False):
        i = rng.choice([j for j, lab in enumerate(labels) if lab == c])
        plot_reconstruction(ax, objects[i], f"{c}: {objects[i].object_id} (score {objects[i].score:.2f})")
    axes[0].legend(fontsize=6)
    fig.tight_layout()
    return fig


def extremes_figure(objects: Sequence[ObjectScore], labels: Sequence[str | None], n: int = 3) -> plt.Figure:
    """The n lowest (top row) and n highest (bottom row) scored objects (figure 9.8)."""
    order = np.argsort([o.score for o in objects])
    picks = list(order[:n]) + list(order[-n:][::-1])
    fig, axes = _grid(len(picks))
    for ax, i in zip(axes, picks, strict=False):
        kind = "lowest" if i in order[:n] else "highest"
        plot_reconstruction(ax, objects[i], f"{kind}: {labels[i]} {objects[i].object_id} score {objects[i].score:.2f}")
    fig.tight_layout()
    return fig


def histogram_figure(scores: np.ndarray, labels: Sequence[str | None], outlier_class: str | None) -> plt.Figure:
    """Score histograms: inliers against the outlier class (figure 9.5), or one per class."""
    labels = np.asarray(labels, dtype=object)
    fig, ax = plt.subplots(figsize=(6, 4))
    bins = np.histogram_bin_edges(scores, bins=40)
    groups = ({"inliers": labels != outlier_class, f"outliers ({outlier_class})": labels == outlier_class}
              if outlier_class else {c: labels == c for c in sorted({c for c in labels if c is not None})})
    for name, sel in groups.items():
        ax.hist(scores[sel], bins=bins, histtype="step", density=True, label=f"{name} ({int(sel.sum())})")
    ax.set_xlabel("score (higher = more anomalous)")
    ax.set_ylabel("density")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def write_figures(scorer: Scorer, curves: Sequence[LightCurve], out_dir: str | Path, outlier_class: str | None = None,
                  seed: int = 0) -> list[Path]:
    """Score ``curves`` and write ``reconstructions.png``, ``extremes.png`` and ``histogram.png`` to ``out_dir``.

    Curves the scorer rejects (no band it knows) are left out of every figure.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    result = scorer.score(curves)
    scored = [(o, lc.label) for o, lc in zip(result.objects, curves, strict=True) if o is not None]
    objects, labels = [o for o, _ in scored], [label for _, label in scored]
    figures = {"histogram.png": histogram_figure(np.array([o.score for o in objects]), labels, outlier_class)}
    if objects and objects[0].reconstruction is not None:
        figures["reconstructions.png"] = reconstructions_figure(objects, labels, np.random.default_rng(seed))
        figures["extremes.png"] = extremes_figure(objects, labels)
    paths = []
    for name, fig in figures.items():
        fig.savefig(out_dir / name, dpi=110)
        plt.close(fig)
        paths.append(out_dir / name)
    return paths
