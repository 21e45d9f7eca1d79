"""LC-VaDE: VaDE with a Gaussian-mixture prior, class features and an induction-point GP decoder (thesis chapter 9).

Generative model ``p(x,z,y,f|t) = p(x|z,t) p(z|y) p(f|y) p(y)``; inference ``q(z|x,t) q(y|z,f)`` (section 9.4.1).
Training minimises the supervised LC-VaDES loss (eq 9.8): the negative ELBO of eqs 9.9-9.11 in closed form plus the
cross-entropy of q(y|z,f) on the class labels. The anomaly score is -IAS (eq 9.12), higher = more anomalous, or
one of the other scores the same pass computes (:data:`SCORE_VARIANTS`).

Choices where the thesis is silent follow the digest (section 3.10): correct Gaussian cross-entropy (A-1), Bayes
posterior q(y|z,f) (A-3), K = number of training classes (A-4), prior on the full 12-D z (A-5), 3D-channel IP block
(A-6), softplus + floor for sigma_ind, jitter and variance floor (A-8), f standardised with training statistics
(A-9; the thesis's (m, s, p) with preset "thesis", the offset-free (log s, log10 p) otherwise), class-balanced
batches of 64 (A-11).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Literal, Self

import numpy as np
import torch
from scipy.special import logsumexp
from torch import nn

from models.calibration import MAD_TO_SIGMA, NoiseConditionedScore, noise_level
from models.layers.decoders import InductionDecoder
from models.layers.encoders import Encoder
from models.layers.losses import categorical_entropy, gaussian_cross_entropy, gaussian_entropy
from models.layers.priors import GaussianMixturePrior, information_anomaly_score
from models.lightcurve import LightCurve
from models.preprocessing.folding import FoldedBatch, FoldedCurve, fold_batch, fold_curve, pad_batch
from models.scorers.base import ObjectScore, Scorer, ScoreResult
from models.training import TrainState, autocast_context, train

log = logging.getLogger(__name__)

STATE_VERSION = 2
LOGVAR_RANGE = (-12.0, 6.0)  # keeps exp(logvar) finite early in training


@dataclass
class LCVaDEConfig:
    """Architecture, training and preprocessing settings; saved with the weights.

    ``channels`` is the thesis's C: the encoder and decoder trunks have 4C channels (C = 72 in section 9.5.2).
    """

    channels: int = 72
    z_rep: int = 10
    z_kernel: int = 2
    n_ref: int = 64
    n_down: int = 4
    bottom_width: int = 3
    n_up: int = 3
    kernel_hidden: int = 864
    intensity: bool = True
    # The decoder's GP kernel: eq 9.3's squared exponential, or a periodic one on the circle of phases.
    kernel: Literal["se", "periodic"] = "se"
    spectral_norm: bool = True
    prior_on: Literal["z", "z_rep"] = "z"
    ce_variant: Literal["correct", "thesis_literal"] = "correct"
    # q(y|z,f): the Bayes posterior under the prior (digest A-3 default) or a one-hidden-layer MLP on [z, f] (the
    # A-3 option), whose cross-entropy gradient reaches the encoder directly instead of only through the prior.
    classifier: Literal["bayes", "mlp"] = "bayes"
    classifier_hidden: int = 64
    # Weight of the supervised cross-entropy h(y, q(y|z,f)) in eq 9.8 (1 in the thesis). The negative ELBO sums the
    # reconstruction over up to max_points observations per band, hundreds of nats against the cross-entropy's
    # few, so at weight 1 the labels barely shape the latent.
    ce_weight: float = 1.0
    max_points: int = 200
    # Shift each folded band so its brightest part sits at a fixed phase (digest A-14 option; off as in the thesis).
    align_phase: bool = False
    bands: list[str] | None = None
    # f, the class features of p(f|y) and q(y|z,f): "thesis" = (mean_b, log scale_b, log10 p) as published (the mean
    # magnitude makes every score depend on the zero point); "shape" = (log scale_b, log10 p), unchanged by a
    # magnitude offset; "lc" = shape plus the offset-invariant light-curve features (models.features).
    features: Literal["thesis", "shape", "lc"] = "shape"
    # Training length in optimiser steps (not epochs of whatever set it is), checkpointed every round_steps.
    steps: int = 3000
    round_steps: int = 100
    batch_size: int = 64
    lr: float = 1e-3
    # "cosine" decays every learning rate to lr_floor x its initial value over ``steps``; "constant" as in the thesis.
    lr_schedule: Literal["constant", "cosine"] = "constant"
    lr_floor: float = 0.05
    # The prior's means and variances are a handful of numbers that a 1e-3 step moves too slowly for the supervised
    # cross-entropy to separate the classes early; the thesis only states lr 1e-3 "for all networks".
    prior_lr: float = 1e-2
    amp: bool = True
    score_batch_size: int = 256
    # The reported score, one of SCORE_VARIANTS (all of them are in every object's terms whichever is chosen).
    score: str = "ias"
    noise_neighbours: int = 256
    # The period search used for curves that come without a period, at training and at scoring alike.
    period_min: float = 0.04
    period_max: float = 1000.0
    period_method: str = "auto"
    # CPU threads while fitting and scoring (restored afterwards). One thread: on a small shared machine the
    # small preset's ops are too small to gain from more, and oversubscribed spin-waiting made steps 10x slower.
    threads: int | None = 1

    @property
    def z_dim(self) -> int:
        return self.z_rep + self.z_kernel

    def __post_init__(self) -> None:
        if self.score not in SCORE_VARIANTS:
            raise ValueError(f"unknown LC-VaDE score {self.score!r}; known: {', '.join(SCORE_VARIANTS)}")


# Score variants, all "higher = more anomalous", all computed by every scoring pass (Scorer.variant_scores):
SCORE_VARIANTS = (
    "ias",  # -IAS (eq 9.12), the thesis's score
    "ias_given_noise",  # -IAS standardised among training curves of the same noise level (models.calibration)
    "prior_term",  # -sum_k gamma_k E_q[log p(z|y=k)], the first IAS term alone
    "entropy_term",  # -h(q(z|x)), the second IAS term alone
    "class_doubt",  # 1 - max_k q(y=k|z,f): no known class claims the curve
    "latent_density",  # -log sum_k p(y=k) N(mu~; mu_k, sigma_k^2): the latent mean under the mixture prior
    "feature_density",  # -log sum_k p(y=k) p(f|y=k)
    "joint_density",  # -log sum_k p(y=k) p(mu~|y=k) p(f|y=k): the evidence that q(y|z,f) normalises
    "recon",  # -E[log p(x|z,t)] per observation: the observed-space reconstruction error
    "ias_recon",  # z(ias) + z(recon), z = robust z-score among training curves (thesis 9.5.4 future work)
    "joint_recon",  # z(joint_density) + z(recon)
)
# The variants that are sums of robust z-scores of others, and their parts.
COMBINED_VARIANTS = {"ias_recon": ("ias", "recon"), "joint_recon": ("joint_density", "recon")}


# Variants are data (style guide 4): one code path, different sizes.
PRESETS: dict[str, dict[str, Any]] = {
    "thesis": {"features": "thesis"},  # C = 72, I = 24 and f = (m, s, p), as published
    # CPU-sized: 4C = 64 channels, 32 reference points, 3 down-sampling blocks, phases aligned to the brightest part
    # 1000 optimiser steps, and the score the selection step chose on ASAS (docs/results.md measures each
    # choice; `lcad evaluate --select` chooses for other data).
    "small": {"channels": 16, "kernel_hidden": 48, "n_ref": 32, "n_down": 3, "steps": 1000, "align_phase": True,
              "score": "joint_density"},
    "tiny": {"channels": 2, "kernel_hidden": 8, "n_ref": 16, "n_down": 2, "steps": 2, "round_steps": 1,
             "batch_size": 32},  # tests only
}


def make_config(preset: str = "small", **overrides: Any) -> LCVaDEConfig:
    """The preset's config with ``overrides`` applied; unknown keys raise with the list of known ones."""
    if preset not in PRESETS:
        raise ValueError(f"unknown LC-VaDE preset {preset!r}; known: {', '.join(PRESETS)}")
    known = {f.name for f in fields(LCVaDEConfig)}
    unknown = set(overrides) - known
    if unknown:
        raise ValueError(f"unknown LC-VaDE config keys {sorted(unknown)}; known: {sorted(known)}")
    return LCVaDEConfig(**(PRESETS[preset] | overrides))


class LCVaDE(nn.Module):
    """Encoder, induction-point decoder and Gaussian-mixture prior; ``forward`` returns loss and per-object terms."""

    def __init__(self, config: LCVaDEConfig, n_bands: int, n_classes: int, n_features: int,
                 generator: torch.Generator | None = None):
        super().__init__()
        self.config = config
        width = 4 * config.channels
        self.encoder = Encoder(n_bands, width, config.z_dim, config.n_ref, config.n_down, config.intensity,
                               config.spectral_norm)
        self.decoder = InductionDecoder(n_bands, width, config.z_rep, config.z_kernel, config.bottom_width,
                                        config.n_up, config.kernel_hidden, config.kernel == "periodic")
        prior_dim = config.z_dim if config.prior_on == "z" else config.z_rep
        self.prior = GaussianMixturePrior(n_classes, prior_dim, n_features, generator)
        self.classifier = (nn.Sequential(nn.Linear(prior_dim + n_features, config.classifier_hidden), nn.ReLU(),
                                         nn.Linear(config.classifier_hidden, n_classes))
                           if config.classifier == "mlp" else None)

    def param_groups(self, lr: float) -> list[dict[str, Any]]:
        """Adam groups: the networks at ``lr`` (section 9.5.2), the prior at ``config.prior_lr``."""
        prior = list(self.prior.parameters())
        ids = {id(p) for p in prior}
        return [{"params": [p for p in self.parameters() if id(p) not in ids], "lr": lr},
                {"params": prior, "lr": self.config.prior_lr}]

    def _prior_part(self, z: torch.Tensor) -> torch.Tensor:
        return z if self.config.prior_on == "z" else z[:, :self.config.z_rep]

    def log_class_posterior(self, z: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
        """log q(y|z,f) (N, K): the prior's Bayes posterior, or the MLP's log-softmax (``config.classifier``)."""
        if self.classifier is None:
            return self.prior.log_posterior(z, f)
        return torch.log_softmax(self.classifier(torch.cat([z, f], dim=-1)).float(), dim=-1)

    def encode(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.encoder(batch["phase"], batch["mag"], batch["err"], batch["mask"])
        return mu.float(), logvar.float().clamp(*LOGVAR_RANGE)

    def forward(self, batch: dict[str, torch.Tensor], sample: bool | None = None) -> dict[str, Any]:
        """Loss of eq 9.8 (when labels are given) and every per-object quantity the score needs.

        ``sample`` defaults to ``self.training``: z is drawn by reparameterisation in training and set to the
        encoder mean otherwise, so gamma comes from z samples in training and from mu in scoring (digest A-3).
        """
        sample = self.training if sample is None else sample
        mu, logvar = self.encode(batch)  # (N, J)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp() if sample else mu
        params = self.decoder(z)
        params = {k: v.float() for k, v in params.items()}
        mu_hat, var_hat = self.decoder.predict(params, batch["phase"])  # (N, B, L)
        mask = batch["mask"].float()
        ce = gaussian_cross_entropy(batch["mag"], batch["err"] ** 2, mu_hat, var_hat, self.config.ce_variant)
        recon = (ce * mask).sum((1, 2))  # R_i: summed over observations (eq 9.7)
        feats = batch["features"]
        pmu, plogvar, pz = self._prior_part(mu), self._prior_part(logvar), self._prior_part(z)
        log_gamma = self.log_class_posterior(pz, feats)  # (N, K)
        gamma = log_gamma.exp()
        ias, expected, entropy = information_anomaly_score(self.prior, gamma, pmu, plogvar)
        feature_term = (gamma * self.prior.log_prob_f(feats)).sum(-1)
        elbo = recon + ias + feature_term + self.prior.log_pi + categorical_entropy(gamma, log_gamma)
        if self.config.prior_on == "z_rep":  # N(0, I) on z_kernel
            kz = logvar[:, self.config.z_rep:]
            elbo = elbo + gaussian_entropy(kz) - 0.5 * (math.log(2 * math.pi) + mu[:, self.config.z_rep:] ** 2
                                                         + kz.exp()).sum(-1)
        out = {"mu": mu, "logvar": logvar, "params": params, "mu_hat": mu_hat, "var_hat": var_hat, "gamma": gamma,
               "ias": ias, "expected_log_prior": expected, "entropy": entropy, "recon": recon, "elbo": elbo,
               "log_pz": self.prior.log_prob_z(pmu), "log_pf": self.prior.log_prob_f(feats)}
        if "label" in batch:
            supervised = -log_gamma.gather(1, batch["label"][:, None]).squeeze(1)  # h(y, q(y|z,f))
            n_obs = mask.sum((1, 2)).clamp_min(1.0)
            out["loss"] = (-elbo + self.config.ce_weight * supervised).mean()
            out["terms"] = {"recon/obs": (recon / n_obs).mean(), "ias": ias.mean(), "ce": supervised.mean(),
                            "acc": (gamma.argmax(-1) == batch["label"]).float().mean()}
        return out


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
    raise ValueError(f"unknown LC-VaDE features {kind!r}; use 'thesis', 'shape' or 'lc'")


def robust_reference(values: np.ndarray) -> tuple[float, float]:
    """(median, 1.4826 MAD) of training-curve values: what a robust z-score of a new value is measured against."""
    median = float(np.median(values))
    return median, max(MAD_TO_SIGMA * float(np.median(np.abs(values - median))), 1e-9)


@dataclass
class Prepared:
    """Training curves folded once, with their standardised features and labels (drawn from, batch by batch)."""

    folded: list[FoldedCurve]
    features: np.ndarray  # (N, F) standardised
    labels: np.ndarray  # (N,) class indices


class LCVaDEScorer(Scorer):
    """The LC-VaDE anomaly scorer: score = -IAS (higher = more anomalous) or another of :data:`SCORE_VARIANTS`.

    Parameters
    ----------
    preset : str
        ``"thesis"`` (C = 72, as published), ``"small"`` (CPU-sized) or ``"tiny"`` (tests); see :data:`PRESETS`.
    seed : int
        Seeds initialisation, batch sampling and reparameterisation noise.
    device : str, optional
        ``"cuda"`` when available, else ``"cpu"``.
    progress : bool
        Show a progress bar while training.
    **overrides
        Any :class:`LCVaDEConfig` field (``steps``, ``batch_size``, ``channels``, ...).
    """

    name = "lcvade"
    presets = PRESETS
    default_preset = "small"

    def __init__(self, preset: str | None = None, seed: int = 0, device: str | None = None, progress: bool = False,
                 **overrides: Any):
        preset = preset or self.default_preset
        self.preset = preset
        self.config = make_config(preset, **overrides)
        self.seed = int(seed)
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.progress = progress
        self.model: LCVaDE | None = None
        self.classes: list[str] = []
        self.bands: list[str] = []
        self.feature_mean: np.ndarray | None = None
        self.feature_std: np.ndarray | None = None
        self.train_state = TrainState()
        self.noise_reference: NoiseConditionedScore | None = None
        # Training-curve (median, scale) of the variants that COMBINED_VARIANTS add up as robust z-scores.
        self.references: dict[str, tuple[float, float]] = {}

    # ---- preprocessing -------------------------------------------------------------------------------------------

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

    def with_periods(self, curves: Sequence[LightCurve]) -> tuple[list[LightCurve], list[str]]:
        """Curves with periods, searched where missing with the model's own range and method."""
        from models.preprocessing.periods import with_periods  # astropy/nifty-ls only when a search is needed

        return with_periods(curves, self.config.period_min, self.config.period_max, self.config.period_method)

    def _lr_factor(self, step: int) -> float:
        if self.config.lr_schedule == "constant":
            return 1.0
        progress = min(step / max(self.config.steps, 1), 1.0)
        return self.config.lr_floor + (1 - self.config.lr_floor) * 0.5 * (1 + math.cos(math.pi * progress))

    # ---- fit / score ---------------------------------------------------------------------------------------------

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
                                     max_steps=max_steps, lr_factor=self._lr_factor)
            self._fit_references(curves)
        if checkpoint is not None:
            self.save(checkpoint)
        return self

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
            self._init_model(raw, y)
        return Prepared(folded, self._standardised(raw), y)

    def _standardised(self, raw: np.ndarray) -> np.ndarray:
        """f standardised with the training statistics; undefined features sit at the training mean (0)."""
        return np.nan_to_num((raw - self.feature_mean) / self.feature_std, nan=0.0, posinf=0.0, neginf=0.0)

    def _fit_references(self, curves: list[LightCurve]) -> None:
        """Score the training curves once: the noise reference and the robust scales of the combined variants."""
        folded, out = self.forward_all(curves)
        scores = self._base_scores(folded, out)
        self.noise_reference = NoiseConditionedScore(scores["noise_level"], scores["ias"],
                                                     self.config.noise_neighbours)
        self.references = {name: robust_reference(scores[name])
                           for parts in COMBINED_VARIANTS.values() for name in parts}

    def _init_model(self, raw: np.ndarray, y: np.ndarray) -> None:
        with np.errstate(all="ignore"):
            self.feature_mean = np.nan_to_num(np.nanmean(raw, 0))
            self.feature_std = np.maximum(np.nan_to_num(np.nanstd(raw, 0)), 1e-6)
        torch.manual_seed(self.seed)
        generator = torch.Generator().manual_seed(self.seed)
        self.model = LCVaDE(self.config, len(self.bands), len(self.classes), raw.shape[1], generator)
        # p(f|y) starts at the class-conditional moments of the standardised features (digest A-11).
        fs = self._standardised(raw)
        with torch.no_grad():
            for k in range(len(self.classes)):
                fk = fs[y == k]
                self.model.prior.mu_f[k] = torch.as_tensor(fk.mean(0), dtype=torch.float32)
                self.model.prior.logvar_f[k] = torch.as_tensor(np.log(fk.var(0) + 1e-2), dtype=torch.float32)

    def _check_fitted(self) -> LCVaDE:
        if self.model is None:
            raise RuntimeError("lcvade: fit() or load() before score()")
        return self.model

    @torch.no_grad()
    def forward_all(self, curves: Sequence[LightCurve]) -> tuple[FoldedBatch, dict[str, np.ndarray]]:
        """Folded arrays and every model output, in eval mode (batch-norm running statistics), batch by batch.

        ``curves`` must carry periods (see :meth:`with_periods`).
        """
        model = self._check_fitted().to(self.device).eval()
        folded, arrays = self.batch_arrays(curves)
        parts: dict[str, list[np.ndarray]] = {}
        for start in range(0, len(folded), self.config.score_batch_size):
            batch = {k: v[start:start + self.config.score_batch_size].to(self.device) for k, v in arrays.items()}
            with autocast_context(self.device, self.config.amp):
                out = model(batch, sample=False)
            flat = {k: v for k, v in out.items() if isinstance(v, torch.Tensor)} | out["params"]
            for k, v in flat.items():
                parts.setdefault(k, []).append(v.float().cpu().numpy())
        return folded, {k: np.concatenate(v) for k, v in parts.items()}

    def known_bands(self) -> list[str]:
        self._check_fitted()
        return self.bands

    def score(self, lightcurves: Sequence[LightCurve]) -> ScoreResult:
        """Every score variant per curve, with the class posterior, the IAS terms, the latent mean and the
        reconstruction; curves with no band the model knows are rejected (``ScoreResult.rejections``)."""
        return self.score_known(lightcurves, self._score_curves)

    def _score_curves(self, lightcurves: list[LightCurve]) -> list[ObjectScore]:
        curves, sources = self.with_periods(lightcurves)
        with cpu_threads(self.config.threads, self.device):
            folded, out = self.forward_all(curves)
        return self._objects(curves, sources, folded, out)

    def _objects(self, curves: list[LightCurve], sources: list[str], folded: FoldedBatch,
                 out: dict[str, np.ndarray]) -> list[ObjectScore]:
        t_ind = self.model.decoder.t_ind.cpu().numpy().round(6).tolist()
        scores = self._scores(folded, out)
        objects = []
        for i, lc in enumerate(curves):
            posterior = {c: float(out["gamma"][i, k]) for k, c in enumerate(self.classes)}
            recon: dict[str, Any] = {"t_induction": t_ind, "period": float(lc.period), "bands": {}}
            for b, band in enumerate(self.bands):
                m = folded.mask[i, b]
                recon["bands"][band] = {
                    "phase": folded.phase[i, b, m].tolist(), "mag": folded.mag[i, b, m].tolist(),
                    "err": folded.err[i, b, m].tolist(), "mu_hat": out["mu_hat"][i, b, m].tolist(),
                    "sigma_hat": np.sqrt(out["var_hat"][i, b, m]).tolist(),
                    "mu_ind": out["mu_ind"][i, b].tolist(), "sigma_ind": out["sigma_ind"][i, b].tolist(),
                    "sigma_theta": float(out["sigma_theta"][i, b]), "length": float(out["length"][i, b]),
                    "mean_mag": float(folded.features[i, 2 * b]), "std_mag": float(folded.features[i, 2 * b + 1]),
                }
            terms = {"ias": float(out["ias"][i]), "expected_log_prior": float(out["expected_log_prior"][i]),
                     "entropy": float(out["entropy"][i]), "noise_level": float(scores["noise_level"][i])}
            terms |= {name: float(scores[name][i]) for name in SCORE_VARIANTS if name in scores and name != "ias"}
            flags = [] if folded.variable[i] else ["not_variable"]
            objects.append(ObjectScore(
                object_id=lc.object_id, score=float(scores[self.config.score][i]), terms=terms,
                predicted_class=max(posterior, key=posterior.get), class_posterior=posterior,
                latent_mean=out["mu"][i].tolist(), reconstruction=recon, period=float(lc.period),
                period_source=sources[i], flags=flags))
        return objects

    def _base_scores(self, folded: FoldedBatch, out: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The variants computed from one forward pass alone (no training-curve reference), and the noise level."""
        log_pi = -math.log(len(self.classes))
        n_obs = np.maximum(folded.mask.sum((1, 2)), 1)
        return {
            "ias": -out["ias"], "noise_level": noise_level(folded.err, folded.mask),
            "prior_term": -out["expected_log_prior"], "entropy_term": -out["entropy"],
            "class_doubt": 1.0 - out["gamma"].max(-1),
            "latent_density": -logsumexp(out["log_pz"] + log_pi, axis=-1),
            "feature_density": -logsumexp(out["log_pf"] + log_pi, axis=-1),
            "joint_density": -logsumexp(out["log_pz"] + out["log_pf"] + log_pi, axis=-1),
            "recon": -out["recon"] / n_obs,
        }

    def _scores(self, folded: FoldedBatch, out: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Every score variant (higher = more anomalous) and the noise level, per curve."""
        scores = self._base_scores(folded, out)
        if self.noise_reference is not None:
            scores["ias_given_noise"] = self.noise_reference(scores["noise_level"], scores["ias"])
        for name, parts in COMBINED_VARIANTS.items():
            if all(part in self.references for part in parts):
                scores[name] = sum((scores[p] - self.references[p][0]) / self.references[p][1] for p in parts)
        if self.config.score not in scores:
            raise RuntimeError(f"lcvade: score {self.config.score!r} needs a model fitted with this version of lcad "
                               "(its file carries no training-curve reference)")
        return scores

    def variant_scores(self, result: ScoreResult) -> dict[str, np.ndarray]:
        """Every variant of :data:`SCORE_VARIANTS` this model computes, from the objects' terms."""
        objects = [o for o in result.objects if o is not None]
        names = [n for n in SCORE_VARIANTS if n != "ias" and all(n in o.terms for o in objects)]
        variants = {"ias": np.array([-o.terms["ias"] for o in objects])}
        return variants | {n: np.array([o.terms[n] for o in objects]) for n in names}

    # ---- persistence ---------------------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        model = self._check_fitted()
        return {
            "version": STATE_VERSION, "preset": self.preset, "config": asdict(self.config), "seed": self.seed,
            "classes": self.classes, "bands": self.bands,
            "feature_mean": self.feature_mean.tolist(), "feature_std": self.feature_std.tolist(),
            "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "train": self.train_state.as_dict(), "versions": _versions(),
            "noise_reference": None if self.noise_reference is None else self.noise_reference.state(),
            "references": {k: list(v) for k, v in self.references.items()},
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], device: str | None = None) -> Self:
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"lcvade state version {state.get('version')!r}; this code reads {STATE_VERSION} "
                             "(retrain the model with this version of lcad)")
        scorer = cls(preset=state["preset"], seed=state["seed"], device=device)
        scorer.config = replace(LCVaDEConfig(), **state["config"])
        scorer.classes, scorer.bands = list(state["classes"]), list(state["bands"])
        scorer.feature_mean = np.asarray(state["feature_mean"])
        scorer.feature_std = np.asarray(state["feature_std"])
        scorer.model = LCVaDE(scorer.config, len(scorer.bands), len(scorer.classes), len(scorer.feature_mean))
        scorer.model.load_state_dict(state["model"])
        scorer.model.eval()
        scorer.train_state = TrainState.from_dict(state.get("train"))
        reference = state.get("noise_reference")
        scorer.noise_reference = None if reference is None else NoiseConditionedScore.from_state(reference)
        scorer.references = {k: (float(v[0]), float(v[1])) for k, v in state.get("references", {}).items()}
        return scorer


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    try:
        lcad = version("lcad")
    except PackageNotFoundError:
        lcad = "unknown"
    return {"lcad": lcad, "torch": torch.__version__, "numpy": np.__version__}
