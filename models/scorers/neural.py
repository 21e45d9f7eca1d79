"""What every torch scorer over folded light curves shares: preprocessing, batches, training, scoring, persistence.

A scorer here is a network module (its paper's objective) plus the per-object scores it reads from one forward
pass. Everything between the light curves and the module is the same for LC-VaDE and the models the thesis compares
it with (table 9.4 uses "the same architecture (S)"), so it is written once: periods searched where missing, curves
folded and normalised (:mod:`models.preprocessing.folding`), class features f standardised with training
statistics, class-balanced batches (thesis 9.4.2), the training loop of :mod:`models.training` counted in optimiser
steps with per-round checkpoints, scoring in batches with the batch-norm running statistics, and one state format.

The module's contract: ``module(batch, sample=None)`` returns a dict of per-object tensors and, when the batch holds
``"label"``, ``"loss"`` and ``"terms"`` (see :func:`models.training.train`). Outputs named ``mu`` (latent mean),
``gamma`` (posterior over components), ``mu_hat``/``var_hat`` (reconstruction at the observed phases) and the
induction-point parameters are turned into the explanation every :class:`ObjectScore` carries.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

import numpy as np
import torch
from torch import nn

from models.calibration import MAD_TO_SIGMA
from models.lightcurve import LightCurve
from models.preprocessing.folding import FoldedBatch, FoldedCurve, fold_batch, fold_curve, pad_batch
from models.scorers.base import ObjectScore, Scorer, ScoreResult
from models.training import TrainState, autocast_context, train


@dataclass
class NeuralConfig:
    """Preprocessing, training and scoring settings every torch scorer has; a scorer's config adds its architecture.

    Saved with the weights, so a model file scores exactly as it was trained.
    """

    max_points: int = 200
    # Shift each folded band so its brightest part sits at a fixed phase (digest A-14 option).
    align_phase: bool = False
    bands: list[str] | None = None
    # f, the class features (digest A-9): "thesis" = (mean_b, log scale_b, log10 p) as published (the mean magnitude
    # makes every score depend on the zero point); "shape" = (log scale_b, log10 p), unchanged by a magnitude
    # offset; "lc" = shape plus the offset-invariant light-curve features (models.features).
    features: Literal["thesis", "shape", "lc"] = "shape"
    # Training length in optimiser steps (not epochs of whatever set it is), checkpointed every round_steps.
    steps: int = 1000
    round_steps: int = 100
    batch_size: int = 64
    lr: float = 1e-3
    # "cosine" decays every learning rate to lr_floor x its initial value over ``steps``; "constant" as in the thesis.
    lr_schedule: Literal["constant", "cosine"] = "constant"
    lr_floor: float = 0.05
    amp: bool = True
    score_batch_size: int = 256
    # The reported score, one of the scorer's ``score_variants`` ("" = the first); all are in every object's terms.
    score: str = ""
    # The period search used for curves that come without a period, at training and at scoring alike.
    period_min: float = 0.04
    period_max: float = 1000.0
    period_method: str = "auto"
    # CPU threads while fitting and scoring (restored afterwards). One thread: on a small shared machine the
    # small presets' ops are too small to gain from more, and oversubscribed spin-waiting made steps 10x slower.
    threads: int | None = 1


@contextmanager
def cpu_threads(n: int | None, device: torch.device):
    """Run with ``n`` torch CPU threads (no change when None or on CUDA), then restore the previous count."""
    if n is None or device.type != "cpu":
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def class_features(folded: FoldedBatch, curves: Sequence[LightCurve], kind: str) -> np.ndarray:
    """Raw f per curve (before standardisation) for ``config.features`` (digest A-9 and its offset-free variants).

    (mean_b, scale_b, ..., period) from folding becomes (mean_b, log scale_b, ..., log10 p) for "thesis",
    (log scale_b, ..., log10 p) for "shape", and "shape" plus :func:`models.features.invariant_features` for "lc".
    """
    n_bands = len(folded.bands)
    log_scale = np.log(folded.features[:, 1:2 * n_bands:2])
    log_period = np.log10(folded.features[:, -1:])
    if kind == "thesis":
        f = folded.features.copy()
        f[:, 1:2 * n_bands:2], f[:, -1:] = log_scale, log_period
        return f
    shape = np.hstack([log_scale, log_period])
    if kind == "shape":
        return shape
    if kind == "lc":
        from models.features import invariant_features

        return np.hstack([shape, invariant_features(curves, folded.bands, n_jobs=1)])
    raise ValueError(f"unknown class features {kind!r}; use 'thesis', 'shape' or 'lc'")


def robust_reference(values: np.ndarray) -> tuple[float, float]:
    """(median, 1.4826 MAD) of training-curve values: what a robust z-score of a new value is measured against.

    Where more than half the values are equal (a class doubt of 0 for most training curves) the MAD is 0 and the
    standard deviation stands in for it, so that a z-score stays on the scale of the values that do differ.
    """
    median = float(np.median(values))
    scale = MAD_TO_SIGMA * float(np.median(np.abs(values - median))) or float(np.std(values))
    return median, max(scale, 1e-9)


def robust_z(values: np.ndarray, reference: tuple[float, float]) -> np.ndarray:
    """``values`` in robust z units of a :func:`robust_reference`."""
    median, scale = reference
    return (values - median) / scale


@dataclass
class Prepared:
    """Training curves folded once, with their standardised features and labels (drawn from, batch by batch)."""

    folded: list[FoldedCurve]
    features: np.ndarray  # (N, F) standardised
    labels: np.ndarray  # (N,) class indices


class NeuralScorer(Scorer):
    """A torch network over folded curves behind the :class:`Scorer` contract; subclasses give the network and the
    scores (see the module docstring for the network's contract).

    Parameters
    ----------
    preset : str
        One of the subclass's :attr:`presets` (``"small"`` for CPU, the paper's sizes, ``"tiny"`` for tests).
    seed : int
        Seeds initialisation, batch sampling and reparameterisation noise.
    device : str, optional
        ``"cuda"`` when available, else ``"cpu"``.
    progress : bool
        Show a progress bar while training.
    **overrides
        Any field of the subclass's config dataclass (``steps``, ``batch_size``, ...).
    """

    config_class: ClassVar[type[NeuralConfig]]
    state_version: ClassVar[int] = 1  # raised by a subclass whose saved state changes meaning
    # The per-object scores :meth:`base_scores` (and :meth:`scores`) return, higher = more anomalous.
    score_variants: ClassVar[tuple[str, ...]]
    default_preset = "small"

    def __init__(self, preset: str | None = None, seed: int = 0, device: str | None = None, progress: bool = False,
                 **overrides: Any):
        self.preset = preset or self.default_preset
        self.config = self.make_config(self.preset, **overrides)
        self.seed = int(seed)
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.progress = progress
        self.model: nn.Module | None = None
        self.classes: list[str] = []
        self.bands: list[str] = []
        self.feature_mean: np.ndarray | None = None
        self.feature_std: np.ndarray | None = None
        self.train_state = TrainState()

    @classmethod
    def make_config(cls, preset: str | None = None, **overrides: Any) -> NeuralConfig:
        """The preset's config with ``overrides`` applied; unknown keys and scores raise naming the known ones."""
        known = {f.name for f in fields(cls.config_class)}
        unknown = set(overrides) - known
        if unknown:
            raise ValueError(f"unknown {cls.name} config keys {sorted(unknown)}; known: {sorted(known)}")
        config = cls.config_class(**cls.preset_config(preset, **overrides))
        if not config.score:
            config = replace(config, score=cls.score_variants[0])
        if config.score not in cls.score_variants:
            raise ValueError(f"unknown {cls.name} score {config.score!r}; known: {', '.join(cls.score_variants)}")
        return config

    def train_for_epochs(self, epochs: float, n_curves: int) -> None:
        """Set ``steps`` to ``epochs`` passes over ``n_curves`` curves in batches of ``batch_size`` (at least one)."""
        self.config = replace(self.config, steps=max(1, math.ceil(epochs * n_curves / self.config.batch_size)))

    # ---- what a subclass gives -----------------------------------------------------------------------------------

    @abstractmethod
    def build_model(self, n_bands: int, n_classes: int, n_features: int,
                    generator: torch.Generator | None = None) -> nn.Module:
        """The untrained network for this many bands, training classes and class features."""

    @abstractmethod
    def base_scores(self, folded: FoldedBatch, out: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Per-object scores of one forward pass (N,) each, by name; extra explanatory numbers may come along."""

    def init_model(self, features: np.ndarray, labels: np.ndarray) -> None:
        """Data-dependent initialisation after the model is built (standardised f, class indices). Default: none."""

    def fit_references(self, curves: list[LightCurve], labels: np.ndarray) -> None:
        """What the fitted model keeps from scoring its own training curves (class indices ``labels``): robust
        scales, embeddings..., e.g. through :meth:`forward_all`. Default: nothing, and no pass over the curves."""

    def scores(self, folded: FoldedBatch, out: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Every score variant, :meth:`base_scores` plus those that need the training-curve references."""
        return self.base_scores(folded, out)

    def extra_state(self) -> dict[str, Any]:
        """Subclass state beyond weights, normalisation and classes (plain containers only; top-level keys)."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`extra_state` saved, from the whole state."""

    def terms(self, i: int, out: dict[str, np.ndarray], scores: dict[str, np.ndarray]) -> dict[str, float]:
        """Curve i's explanation terms: every score and explanatory number by default."""
        return {name: float(values[i]) for name, values in scores.items()}

    def component_names(self) -> list[str]:
        """Names of the columns of the module's ``gamma`` output: the training classes unless overridden."""
        return self.classes

    # ---- preprocessing -------------------------------------------------------------------------------------------

    def with_periods(self, curves: Sequence[LightCurve]) -> tuple[list[LightCurve], list[str]]:
        """Curves with periods, searched where missing with the model's own range and method."""
        from models.preprocessing.periods import with_periods  # astropy/nifty-ls only when a search is needed

        return with_periods(curves, self.config.period_min, self.config.period_max, self.config.period_method)

    def batch_arrays(self, curves: Sequence[LightCurve]) -> tuple[FoldedBatch, dict[str, torch.Tensor]]:
        """The model's input tensors for ``curves`` (with periods), folded deterministically as at scoring."""
        folded = fold_batch(curves, self.bands, self.config.max_points, align=self.config.align_phase)
        raw = class_features(folded, curves, self.config.features)
        return folded, self._arrays(folded, self._standardised(raw))

    @staticmethod
    def _arrays(folded: FoldedBatch, features: np.ndarray) -> dict[str, torch.Tensor]:
        return {
            "phase": torch.as_tensor(folded.phase, dtype=torch.float32),
            "mag": torch.as_tensor(folded.mag, dtype=torch.float32),
            "err": torch.as_tensor(folded.err, dtype=torch.float32),
            "mask": torch.as_tensor(folded.mask),
            "features": torch.as_tensor(features, dtype=torch.float32),
        }

    def _round_batches(self, data: Prepared, round_index: int) -> Iterator[dict]:
        """One round's class-balanced batches (uniform p(y), section 9.4.2), points randomly subsampled per batch."""
        rng = np.random.default_rng([self.seed, round_index])
        by_class = [np.flatnonzero(data.labels == k) for k in range(len(self.classes))]
        first = round_index * self.config.round_steps
        for _ in range(max(0, min(self.config.round_steps, self.config.steps - first))):
            labels = rng.permutation(np.arange(self.config.batch_size) % len(self.classes))
            idx = np.array([rng.choice(by_class[k]) for k in labels])
            folded = pad_batch([data.folded[i] for i in idx], self.bands, self.config.max_points, rng)
            batch = self._arrays(folded, data.features[idx])
            batch["label"] = torch.as_tensor(labels, dtype=torch.long)
            yield batch

    def _lr_factor(self, step: int) -> float:
        if self.config.lr_schedule == "constant":
            return 1.0
        progress = min(step / max(self.config.steps, 1), 1.0)
        return self.config.lr_floor + (1 - self.config.lr_floor) * 0.5 * (1 + math.cos(math.pi * progress))

    def _standardised(self, raw: np.ndarray) -> np.ndarray:
        """f standardised with the training statistics; undefined features sit at the training mean (0)."""
        return np.nan_to_num((raw - self.feature_mean) / self.feature_std, nan=0.0, posinf=0.0, neginf=0.0)

    # ---- fit -----------------------------------------------------------------------------------------------------

    def fit(self, lightcurves: Sequence[LightCurve], labels: Sequence[str], *,
            checkpoint: str | Path | None = None, max_steps: int | None = None) -> Self:
        """Train on labelled inlier curves for ``config.steps`` optimiser steps; a loaded scorer resumes.

        Parameters
        ----------
        checkpoint : path, optional
            Saved after every round of ``round_steps`` (config, normalisation, classes, weights, optimiser state):
            resumable; saved once more at the end, with the training-curve references of the fitted model.
        max_steps : int, optional
            Steps per round cap (quick runs and timing).
        """
        curves, _ = self.with_periods(lightcurves)
        data = self.prepare(curves, labels)

        def save(state: TrainState) -> None:
            self.train_state = state
            if checkpoint is not None:
                self.save(checkpoint)

        rounds = math.ceil(self.config.steps / self.config.round_steps)
        with cpu_threads(self.config.threads, self.device):
            self.train_state = train(self.model, lambda r: self._round_batches(data, r), rounds=rounds,
                                     lr=self.config.lr, seed=self.seed, state=self.train_state, device=self.device,
                                     amp=self.config.amp, progress=self.progress, on_round_end=save,
                                     max_steps=max_steps, lr_factor=self._lr_factor, params=self.optimiser_groups())
            self.fit_references(curves, data.labels)
        if checkpoint is not None:
            self.save(checkpoint)
        return self

    def optimiser_groups(self) -> Iterable[Any]:
        """Adam's parameters: the whole network at ``config.lr``; a scorer whose prior learns at its own rate
        returns :func:`models.training.prior_groups`."""
        return self.check_fitted().parameters()

    def prepare(self, curves: Sequence[LightCurve], labels: Sequence[str]) -> Prepared:
        """Fold the training curves (with periods) once and compute f; the first call also builds the model."""
        labels = np.asarray(labels, dtype=object)
        if len(curves) != len(labels):
            raise ValueError(f"fit: {len(curves)} light curves but {len(labels)} labels")
        if self.model is None:
            self.classes = sorted(set(labels))
            self.bands = self.config.bands or sorted({b for lc in curves for b in lc.bands})
        elif sorted(set(labels)) != self.classes:
            raise ValueError(f"resuming: classes {sorted(set(labels))} differ from the checkpoint's {self.classes}")
        folded = [fold_curve(lc, self.bands, self.config.align_phase) for lc in curves]
        raw = class_features(pad_batch(folded, self.bands, 1), curves, self.config.features)
        index = {c: k for k, c in enumerate(self.classes)}
        y = np.array([index[c] for c in labels])
        if self.model is None:
            with np.errstate(all="ignore"):
                self.feature_mean = np.nan_to_num(np.nanmean(raw, 0))
                self.feature_std = np.maximum(np.nan_to_num(np.nanstd(raw, 0)), 1e-6)
            torch.manual_seed(self.seed)
            generator = torch.Generator().manual_seed(self.seed)
            self.model = self.build_model(len(self.bands), len(self.classes), raw.shape[1], generator)
            self.init_model(self._standardised(raw), y)
        return Prepared(folded, self._standardised(raw), y)

    # ---- score ---------------------------------------------------------------------------------------------------

    def check_fitted(self) -> nn.Module:
        if self.model is None:
            raise RuntimeError(f"{self.name}: fit() or load() before score()")
        return self.model

    @torch.no_grad()
    def forward_all(self, curves: Sequence[LightCurve]) -> tuple[FoldedBatch, dict[str, np.ndarray]]:
        """Folded arrays and every per-object model output, in eval mode (batch-norm running statistics).

        ``curves`` must carry periods (see :meth:`with_periods`).
        """
        model = self.check_fitted().to(self.device).eval()
        folded, arrays = self.batch_arrays(curves)
        parts: dict[str, list[np.ndarray]] = {}
        for start in range(0, len(folded), self.config.score_batch_size):
            batch = {k: v[start:start + self.config.score_batch_size].to(self.device) for k, v in arrays.items()}
            with autocast_context(self.device, self.config.amp):
                out = model(batch, sample=False)
            for k, v in out.items():
                if isinstance(v, torch.Tensor) and v.dim() > 0:
                    parts.setdefault(k, []).append(v.float().cpu().numpy())
        return folded, {k: np.concatenate(v) for k, v in parts.items()}

    def known_bands(self) -> list[str]:
        self.check_fitted()
        return self.bands

    def score(self, lightcurves: Sequence[LightCurve]) -> ScoreResult:
        """Every score variant per curve with its explanation; curves with no band the model knows are rejected
        (``ScoreResult.rejections``)."""
        return self.score_known(lightcurves, self._score_curves)

    def _score_curves(self, lightcurves: list[LightCurve]) -> list[ObjectScore]:
        curves, sources = self.with_periods(lightcurves)
        with cpu_threads(self.config.threads, self.device):
            folded, out = self.forward_all(curves)
        scores = self.scores(folded, out)
        return [self.object_score(i, lc, sources[i], folded, out, scores) for i, lc in enumerate(curves)]

    def object_score(self, i: int, lc: LightCurve, source: str, folded: FoldedBatch, out: dict[str, np.ndarray],
                     scores: dict[str, np.ndarray]) -> ObjectScore:
        """Curve i's score, terms (every score and explanatory number), posterior, latent and reconstruction."""
        posterior = None
        if "gamma" in out:
            posterior = {c: float(out["gamma"][i, k]) for k, c in enumerate(self.component_names())}
        return ObjectScore(
            object_id=lc.object_id, score=float(scores[self.config.score][i]),
            terms=self.terms(i, out, scores),
            predicted_class=None if posterior is None else max(posterior, key=posterior.get),
            class_posterior=posterior, latent_mean=out["mu"][i].tolist() if "mu" in out else None,
            reconstruction=self.reconstruction(i, lc, folded, out), period=float(lc.period), period_source=source,
            flags=[] if folded.variable[i] else ["not_variable"])

    def reconstruction(self, i: int, lc: LightCurve, folded: FoldedBatch,
                       out: dict[str, np.ndarray]) -> dict[str, Any] | None:
        """Curve i folded, with the model's prediction at its phases and, for an induction-point decoder, the
        induction points with their uncertainty (what the plots draw, thesis figures 9.6-9.9)."""
        if "mu_hat" not in out:
            return None
        recon: dict[str, Any] = {"period": float(lc.period), "bands": {}}
        decoder = getattr(self.model, "decoder", None)
        if "mu_ind" in out and decoder is not None:
            recon["t_induction"] = decoder.t_ind.cpu().numpy().round(6).tolist()
        for b, band in enumerate(self.bands):
            m = folded.mask[i, b]
            recon["bands"][band] = {
                "phase": folded.phase[i, b, m].tolist(), "mag": folded.mag[i, b, m].tolist(),
                "err": folded.err[i, b, m].tolist(), "mu_hat": out["mu_hat"][i, b, m].tolist(),
                "sigma_hat": np.sqrt(out["var_hat"][i, b, m]).tolist(),
                "mean_mag": float(folded.features[i, 2 * b]), "std_mag": float(folded.features[i, 2 * b + 1]),
            }
            if "mu_ind" in out:
                recon["bands"][band] |= {
                    "mu_ind": out["mu_ind"][i, b].tolist(), "sigma_ind": out["sigma_ind"][i, b].tolist(),
                    "sigma_theta": float(out["sigma_theta"][i, b]), "length": float(out["length"][i, b])}
        return recon

    def variant_scores(self, result: ScoreResult) -> dict[str, np.ndarray]:
        """Every score variant this model computed, from the objects' terms (higher = more anomalous)."""
        objects = [o for o in result.objects if o is not None]
        return {n: np.array([o.terms[n] for o in objects]) for n in self.score_variants
                if all(n in o.terms for o in objects)}

    # ---- persistence ---------------------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        model = self.check_fitted()
        return {
            "version": self.state_version, "preset": self.preset, "config": asdict(self.config), "seed": self.seed,
            "classes": self.classes, "bands": self.bands,
            "feature_mean": self.feature_mean.tolist(), "feature_std": self.feature_std.tolist(),
            "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "train": self.train_state.as_dict(), "versions": _versions(),
        } | self.extra_state()

    @classmethod
    def from_state(cls, state: dict[str, Any], device: str | None = None) -> Self:
        if state.get("version") != cls.state_version:
            raise ValueError(f"{cls.name} state version {state.get('version')!r}; this code reads "
                             f"{cls.state_version} (retrain the model with this version of lcad)")
        scorer = cls(preset=state["preset"], seed=state["seed"], device=device)
        scorer.config = replace(cls.config_class(), **state["config"])
        scorer.classes, scorer.bands = list(state["classes"]), list(state["bands"])
        scorer.feature_mean = np.asarray(state["feature_mean"])
        scorer.feature_std = np.asarray(state["feature_std"])
        scorer.model = scorer.build_model(len(scorer.bands), len(scorer.classes), len(scorer.feature_mean))
        scorer.model.load_state_dict(state["model"])
        scorer.model.eval()
        scorer.train_state = TrainState.from_dict(state.get("train"))
        scorer.load_extra_state(state)
        return scorer


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    try:
        lcad = version("lcad")
    except PackageNotFoundError:
        lcad = "unknown"
    return {"lcad": lcad, "torch": torch.__version__, "numpy": np.__version__}
