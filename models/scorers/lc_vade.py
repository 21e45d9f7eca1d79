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

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from scipy.special import logsumexp
from torch import nn

from models.calibration import NoiseConditionedScore, noise_level
from models.embedding_novelty import EmbeddingReference
from models.layers.autoencoder import LightCurveAutoencoder, SArchitecture, observations, reparameterise
from models.layers.losses import categorical_entropy, gaussian_entropy
from models.layers.priors import GaussianMixturePrior, information_anomaly_score
from models.lightcurve import LightCurve
from models.preprocessing.folding import FoldedBatch
from models.scorers.base import ScoreResult
from models.scorers.forest_doubt import ForestDoubt
from models.scorers.neural import NeuralConfig, NeuralScorer, robust_reference, robust_z
from models.training import prior_groups

STATE_VERSION = 2


@dataclass
class LCVaDEConfig(SArchitecture, NeuralConfig):
    """What LC-VaDE adds to the (S) sizes (SArchitecture) and the shared settings (NeuralConfig)."""

    prior_on: Literal["z", "z_rep"] = "z"
    # q(y|z,f): the Bayes posterior under the prior (digest A-3 default) or a one-hidden-layer MLP on [z, f] (the
    # A-3 option), whose cross-entropy gradient reaches the encoder directly instead of only through the prior.
    classifier: Literal["bayes", "mlp"] = "bayes"
    classifier_hidden: int = 64
    # Weight of the supervised cross-entropy h(y, q(y|z,f)) in eq 9.8 (1 in the thesis). The negative ELBO sums the
    # reconstruction over up to max_points observations per band, hundreds of nats against the cross-entropy's
    # few, so at weight 1 the labels barely shape the latent.
    ce_weight: float = 1.0
    steps: int = 3000
    # The prior's means and variances are a handful of numbers that a 1e-3 step moves too slowly for the supervised
    # cross-entropy to separate the classes early; the thesis only states lr 1e-3 "for all networks".
    prior_lr: float = 1e-2
    score: str = "ias"
    noise_neighbours: int = 256
    # The embedding scores (models.embedding_novelty): k of the k-th nearest neighbour, training embeddings kept.
    knn_k: int = 10
    reference_points: int = 4096
    # Trees of the forest whose class doubt on [mu~, f] gives the forest_doubt variants (models.scorers.forest_doubt);
    # 0 fits none (the forest adds megabytes to a model file), and its leaves' least training curves.
    doubt_forest_trees: int = 0
    doubt_forest_min_leaf: int = 5

    @property
    def z_dim(self) -> int:
        return self.z_rep + self.z_kernel


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
    # Distances to the training curves' embeddings, no class shape assumed (models.embedding_novelty):
    "latent_knn",  # k-th nearest training latent mean mu~
    "feature_knn",  # k-th nearest training f
    "joint_knn",  # k-th nearest training [mu~, f]
    "latent_mahalanobis",  # nearest class mean of mu~ under the pooled within-class covariance
    "joint_mahalanobis",  # the same on [mu~, f]
    "class_energy",  # -logsumexp of q(y|z,f)'s logits (Liu et al. 2020); = joint_density for the Bayes posterior
    "doubt_or_distance",  # max(z(class_doubt), z(joint_knn)): no known class claims it, or it lies far from all
    "energy_or_distance",  # max(z(class_energy), z(joint_knn)): the same with the logit energy as the first test
    "joint_typicality",  # |z(joint_density)|: atypical either way, too unlikely or too likely (Nalisnick et al. 2019)
    # A random forest's class doubt on [mu~, f] (models.scorers.forest_doubt), when config.doubt_forest_trees > 0:
    "forest_doubt",  # 1 - max_k p_forest(k | mu~, f)
    "forest_doubt_or_distance",  # max(z(forest_doubt), z(joint_knn))
    "forest_doubt_or_density",  # max(z(forest_doubt), z(joint_density))
)
# The embedding each k-NN / Mahalanobis variant measures in, from a forward pass's outputs.
EMBEDDINGS = {"latent": ("mu",), "feature": ("f",), "joint": ("mu", "f")}
KNN_VARIANTS = {"latent_knn": "latent", "feature_knn": "feature", "joint_knn": "joint"}
MAHALANOBIS_VARIANTS = {"latent_mahalanobis": "latent", "joint_mahalanobis": "joint"}
# The variants that are sums of robust z-scores of others, and their parts.
COMBINED_VARIANTS = {"ias_recon": ("ias", "recon"), "joint_recon": ("joint_density", "recon")}
# The variants that are the largest of robust z-scores of others: anomalous by either test.
EITHER_VARIANTS = {"doubt_or_distance": ("class_doubt", "joint_knn"),
                   "energy_or_distance": ("class_energy", "joint_knn"),
                   "forest_doubt_or_distance": ("forest_doubt", "joint_knn"),
                   "forest_doubt_or_density": ("forest_doubt", "joint_density")}
# Two-sided typicality tests: a deep generative model can give a new class a higher density than the training
# classes (Nalisnick et al. 2019, "Do deep generative models know what they don't know?"), so a curve is also
# anomalous when its density is further above the training curves' typical range than they are themselves.
TYPICALITY_VARIANTS = {"joint_typicality": "joint_density"}


# Variants are data (style guide 4): one code path, different sizes.
PRESETS: dict[str, dict[str, Any]] = {
    "thesis": {"features": "thesis"},  # C = 72, I = 24 and f = (m, s, p), as published
    # CPU-sized: 4C = 64 channels, 32 reference points, 3 down-sampling blocks, phases aligned to the brightest part
    # 3000 optimiser steps (where the training loss of ASAS and CRTS fits flattens), and the score the
    # selection step chose on ASAS (docs/results.md measures each choice; `lcad evaluate --select` chooses for other
    # data).
    "small": {"channels": 16, "kernel_hidden": 48, "n_ref": 32, "n_down": 3, "steps": 3000, "align_phase": True,
              "score": "joint_density"},
    "tiny": {"channels": 2, "kernel_hidden": 8, "n_ref": 16, "n_down": 2, "steps": 2, "round_steps": 1,
             "batch_size": 32},  # tests only
}


class LCVaDE(LightCurveAutoencoder):
    """The (S) encoder and decoder with a Gaussian-mixture prior over z and f; ``forward`` returns loss and
    per-object terms."""

    def __init__(self, config: LCVaDEConfig, n_bands: int, n_classes: int, n_features: int,
                 generator: torch.Generator | None = None):
        super().__init__(config, n_bands)
        prior_dim = config.z_dim if config.prior_on == "z" else config.z_rep
        self.prior = GaussianMixturePrior(n_classes, prior_dim, n_features, generator)
        self.classifier = (nn.Sequential(nn.Linear(prior_dim + n_features, config.classifier_hidden), nn.ReLU(),
                                         nn.Linear(config.classifier_hidden, n_classes))
                           if config.classifier == "mlp" else None)

    def _prior_part(self, z: torch.Tensor) -> torch.Tensor:
        return z if self.config.prior_on == "z" else z[:, :self.config.z_rep]

    def class_logits(self, z: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
        """Unnormalised log q(y|z,f) (N, K): the prior's log p(y) p(z|y) p(f|y), whose softmax is the Bayes
        posterior (digest A-3), or the MLP's outputs (``config.classifier``)."""
        if self.classifier is None:
            return self.prior.log_joint(z, f)
        return self.classifier(torch.cat([z, f], dim=-1)).float()

    def forward(self, batch: dict[str, torch.Tensor], sample: bool | None = None) -> dict[str, Any]:
        """Loss of eq 9.8 (when labels are given) and every per-object quantity the score needs.

        ``sample`` defaults to ``self.training``: z is drawn by reparameterisation in training and set to the
        encoder mean otherwise, so gamma comes from z samples in training and from mu in scoring (digest A-3).
        """
        sample = self.training if sample is None else sample
        mu, logvar = self.encode(batch)  # (N, J)
        z = reparameterise(mu, logvar, sample)
        decoded = self.reconstruct(z, batch)  # R_i summed over observations (eq 9.7), the decoder's outputs
        recon = decoded["recon"]
        feats = batch["features"]
        pmu, plogvar, pz = self._prior_part(mu), self._prior_part(logvar), self._prior_part(z)
        logits = self.class_logits(pz, feats)  # (N, K)
        log_gamma = torch.log_softmax(logits, dim=-1)
        gamma = log_gamma.exp()
        ias, expected, entropy = information_anomaly_score(self.prior, gamma, pmu, plogvar)
        feature_term = (gamma * self.prior.log_prob_f(feats)).sum(-1)
        elbo = recon + ias + feature_term + self.prior.log_pi + categorical_entropy(gamma, log_gamma)
        if self.config.prior_on == "z_rep":  # N(0, I) on z_kernel
            kz = logvar[:, self.config.z_rep:]
            elbo = elbo + gaussian_entropy(kz) - 0.5 * (math.log(2 * math.pi) + mu[:, self.config.z_rep:] ** 2
                                                         + kz.exp()).sum(-1)
        out = decoded | {"mu": mu, "f": feats, "logvar": logvar, "gamma": gamma, "ias": ias,
                         "expected_log_prior": expected, "entropy": entropy, "elbo": elbo,
                         "class_energy": -torch.logsumexp(logits, dim=-1),
                         "log_pz": self.prior.log_prob_z(pmu), "log_pf": self.prior.log_prob_f(feats)}
        if "label" in batch:
            supervised = -log_gamma.gather(1, batch["label"][:, None]).squeeze(1)  # h(y, q(y|z,f))
            n_obs = observations(batch)
            out["loss"] = (-elbo + self.config.ce_weight * supervised).mean()
            out["terms"] = {"recon/obs": (recon / n_obs).mean(), "ias": ias.mean(), "ce": supervised.mean(),
                            "acc": (gamma.argmax(-1) == batch["label"]).float().mean()}
        return out


class LCVaDEScorer(NeuralScorer):
    """The LC-VaDE anomaly scorer: score = -IAS (higher = more anomalous) or another of :data:`SCORE_VARIANTS`.

    Presets: ``"thesis"`` (C = 72, as published), ``"small"`` (CPU-sized), ``"tiny"`` (tests); see :data:`PRESETS`
    and :class:`models.scorers.neural.NeuralScorer` for the constructor.
    """

    name = "lcvade"
    presets = PRESETS
    config_class = LCVaDEConfig
    state_version = STATE_VERSION
    score_variants = SCORE_VARIANTS

    def __init__(self, preset: str | None = None, seed: int = 0, device: str | None = None, progress: bool = False,
                 **overrides: Any):
        super().__init__(preset, seed, device, progress, **overrides)
        self.noise_reference: NoiseConditionedScore | None = None
        # Training-curve (median, scale) of the parts of COMBINED_, EITHER_ and TYPICALITY_VARIANTS (robust z-scores).
        self.references: dict[str, tuple[float, float]] = {}
        # Training embeddings per space of EMBEDDINGS, for the k-NN and Mahalanobis variants.
        self.embeddings: dict[str, EmbeddingReference] = {}
        self.doubt_forest: ForestDoubt | None = None  # for the forest_doubt variants (config.doubt_forest_trees)

    def build_model(self, n_bands: int, n_classes: int, n_features: int,
                    generator: torch.Generator | None = None) -> LCVaDE:
        return LCVaDE(self.config, n_bands, n_classes, n_features, generator)

    def optimiser_groups(self) -> list[dict[str, Any]]:
        """The networks at ``lr`` (section 9.5.2), the prior at ``prior_lr``."""
        return prior_groups(self.check_fitted(), self.config.lr, self.config.prior_lr)

    def init_model(self, features: np.ndarray, labels: np.ndarray) -> None:
        """p(f|y) starts at the class-conditional moments of the standardised features (digest A-11)."""
        with torch.no_grad():
            for k in range(len(self.classes)):
                fk = features[labels == k]
                self.model.prior.mu_f[k] = torch.as_tensor(fk.mean(0), dtype=torch.float32)
                self.model.prior.logvar_f[k] = torch.as_tensor(np.log(fk.var(0) + 1e-2), dtype=torch.float32)

    def fit_references(self, curves: list[LightCurve], labels: np.ndarray) -> None:
        """The noise reference, the robust scales of the combined variants and the embeddings, from the training
        curves."""
        folded, out = self.forward_all(curves)
        embedded = {space: embedding(out, space) for space in EMBEDDINGS}
        self.embeddings = {space: EmbeddingReference.fit(x, labels, self.config.reference_points, self.seed)
                           for space, x in embedded.items()}
        scores = self.base_scores(folded, out) | {
            name: self.embeddings[space].own_knn_distance(embedded[space], self.config.knn_k)
            for name, space in KNN_VARIANTS.items()}
        if self.config.doubt_forest_trees > 0:
            self.doubt_forest, scores["forest_doubt"] = ForestDoubt.fit(
                embedded["joint"], labels, self.config.doubt_forest_trees, self.config.doubt_forest_min_leaf,
                self.seed)
        self.noise_reference = NoiseConditionedScore(scores["noise_level"], scores["ias"],
                                                     self.config.noise_neighbours)
        parts = {part for parts in (COMBINED_VARIANTS | EITHER_VARIANTS).values() for part in parts}
        self.references = {name: robust_reference(scores[name])
                           for name in sorted(parts | set(TYPICALITY_VARIANTS.values())) if name in scores}

    def base_scores(self, folded: FoldedBatch, out: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The variants computed from one forward pass alone (no training-curve reference), and the noise level."""
        log_pi = -math.log(len(self.classes))
        n_obs = folded.observations()
        return {
            "ias": -out["ias"], "noise_level": noise_level(folded.err, folded.mask),
            "prior_term": -out["expected_log_prior"], "entropy_term": -out["entropy"],
            "class_doubt": 1.0 - out["gamma"].max(-1),
            "latent_density": -logsumexp(out["log_pz"] + log_pi, axis=-1),
            "feature_density": -logsumexp(out["log_pf"] + log_pi, axis=-1),
            "joint_density": -logsumexp(out["log_pz"] + out["log_pf"] + log_pi, axis=-1),
            "recon": -out["recon"] / n_obs, "class_energy": out["class_energy"],
        }

    def scores(self, folded: FoldedBatch, out: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Every score variant (higher = more anomalous) and the noise level, per curve."""
        scores = self.base_scores(folded, out)
        embedded = {space: embedding(out, space) for space in EMBEDDINGS}
        if self.noise_reference is not None:
            scores["ias_given_noise"] = self.noise_reference(scores["noise_level"], scores["ias"])
        for name, space in KNN_VARIANTS.items():
            if space in self.embeddings:
                scores[name] = self.embeddings[space].knn_distance(embedded[space], self.config.knn_k)
        for name, space in MAHALANOBIS_VARIANTS.items():
            if space in self.embeddings:
                scores[name] = self.embeddings[space].mahalanobis(embedded[space])
        if self.doubt_forest is not None:
            scores["forest_doubt"] = self.doubt_forest.doubt(embedded["joint"])
        for name, parts in COMBINED_VARIANTS.items():
            if all(part in self.references for part in parts):
                scores[name] = sum(self._robust_z(scores, p) for p in parts)
        for name, parts in EITHER_VARIANTS.items():
            if all(part in self.references for part in parts):
                scores[name] = np.max([self._robust_z(scores, p) for p in parts], axis=0)
        for name, part in TYPICALITY_VARIANTS.items():
            if part in self.references:
                scores[name] = np.abs(self._robust_z(scores, part))
        if self.config.score not in scores:
            raise RuntimeError(f"lcvade: score {self.config.score!r} needs a model fitted with this version of lcad "
                               "(its file carries no training-curve reference)")
        return scores

    def _robust_z(self, scores: dict[str, np.ndarray], name: str) -> np.ndarray:
        """``scores[name]`` in robust z units of the training curves (:func:`robust_reference`)."""
        return robust_z(scores[name], self.references[name])

    def terms(self, i: int, out: dict[str, np.ndarray], scores: dict[str, np.ndarray]) -> dict[str, float]:
        """The IAS (eq 9.12, <= 0) with its two terms, the noise level and every other variant."""
        terms = {"ias": float(out["ias"][i]), "expected_log_prior": float(out["expected_log_prior"][i]),
                 "entropy": float(out["entropy"][i])}
        return terms | {name: float(values[i]) for name, values in scores.items() if name != "ias"}

    def variant_scores(self, result: ScoreResult) -> dict[str, np.ndarray]:
        """Every variant of :data:`SCORE_VARIANTS` this model computes, from the objects' terms."""
        objects = [o for o in result.objects if o is not None]
        names = [n for n in SCORE_VARIANTS if n != "ias" and all(n in o.terms for o in objects)]
        variants = {"ias": np.array([-o.terms["ias"] for o in objects])}
        return variants | {n: np.array([o.terms[n] for o in objects]) for n in names}

    def extra_state(self) -> dict[str, Any]:
        return {"noise_reference": None if self.noise_reference is None else self.noise_reference.state(),
                "references": {k: list(v) for k, v in self.references.items()},
                "embeddings": {k: v.state() for k, v in self.embeddings.items()},
                "doubt_forest": None if self.doubt_forest is None else self.doubt_forest.state()}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        reference = state.get("noise_reference")
        self.noise_reference = None if reference is None else NoiseConditionedScore.from_state(reference)
        self.references = {k: (float(v[0]), float(v[1])) for k, v in state.get("references", {}).items()}
        self.embeddings = {k: EmbeddingReference.from_state(v) for k, v in state.get("embeddings", {}).items()}
        forest = state.get("doubt_forest")
        self.doubt_forest = None if forest is None else ForestDoubt.from_state(forest)


def embedding(out: dict[str, np.ndarray], space: str) -> np.ndarray:
    """(N, D) embedding of one space of :data:`EMBEDDINGS` from a forward pass's outputs."""
    return np.hstack([out[name] for name in EMBEDDINGS[space]])
