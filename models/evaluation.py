"""The outlier-class evaluation protocol of thesis section 9.2 (digest 3.9, A-12), for any registered scorer.

For each class C of a labelled set, C plays the outlier in turn:

- N = the size of the smallest class of the set (a constant per set);
- test = N objects of C drawn at random, plus N inlier objects drawn per inlier class in proportion to the class
  sizes (largest-remainder rounding, so the counts sum to exactly N): a 50/50 test set, where a random ranking has
  AUPRC about 0.5;
- train = every other inlier object, with its label; objects of C beyond the N are unused;
- no validation set: nothing is tuned on the outlier class.

The scorer is fitted on the training curves and scores the test curves; AUROC and AUPRC (scikit-learn's
``roc_auc_score`` and ``average_precision_score``) treat the outlier as the positive class and use the score as is
(every lcad score is "higher = more anomalous"). Each (class, seed) run draws its own split from ``seed``; the scorer
gets ``seed`` too, so one seed fixes a run. Results are mean and standard deviation over seeds.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score
from tqdm import tqdm

from models.readers import Dataset
from models.scorers import get_scorer
from models.scorers.base import MAIN_SCORE


@dataclass
class Split:
    """Indices into the set's curves for one (outlier class, seed) run."""

    outlier_class: str
    train: np.ndarray  # (n_train,) inlier indices
    test: np.ndarray  # (2N,) outliers first, then inliers
    is_outlier: np.ndarray  # (2N,) bool, aligned with ``test``


def largest_remainder(sizes: dict[str, int], total: int) -> dict[str, int]:
    """Share ``total`` among classes in proportion to ``sizes``, rounding so the shares sum to exactly ``total``.

    Each class gets the floor of its quota ``total * size / sum(sizes)``; the units left go to the largest fractional
    remainders (ties broken by class name, so the result never depends on dict order).
    """
    n_all = sum(sizes.values())
    if total > n_all:
        raise ValueError(f"cannot draw {total} objects from classes holding {n_all}")
    names = sorted(sizes)
    quotas = {c: total * sizes[c] / n_all for c in names}
    shares = {c: int(np.floor(quotas[c])) for c in names}
    left = total - sum(shares.values())
    for c in sorted(names, key=lambda c: (-(quotas[c] - shares[c]), c))[:left]:
        shares[c] += 1
    return shares


def protocol_split(labels: Sequence[str | None], outlier_class: str, seed: int,
                   n_outliers: int | None = None, max_train_per_class: int | None = None) -> Split:
    """The train/test split of one run (thesis section 9.2, stratified inliers as in digest A-12).

    Parameters
    ----------
    labels
        Class of every curve of the set; curves labelled None take part in nothing.
    outlier_class
        The class C playing the outlier.
    seed
        Seeds the draw of the test objects.
    n_outliers
        N; by default the size of the smallest class of the set.
    max_train_per_class
        Keep at most this many training curves per inlier class, drawn at random (cheaper fits on large sets; the
        test set is unchanged). All of them when None.

    Raises
    ------
    ValueError
        When C is not a class of the set, or the set has fewer than two classes.
    """
    labels = np.asarray(labels, dtype=object)
    labelled = np.array([label is not None for label in labels], dtype=bool)
    classes, counts = np.unique(labels[labelled].astype(str), return_counts=True)
    sizes = dict(zip(classes.tolist(), counts.tolist(), strict=True))
    if outlier_class not in sizes:
        raise ValueError(f"outlier class {outlier_class!r} is not in the set; classes: {sorted(sizes)}")
    if len(sizes) < 2:
        raise ValueError(f"the protocol needs at least two classes, the set has {sorted(sizes)}")
    n = min(sizes.values()) if n_outliers is None else int(n_outliers)
    if n > sizes[outlier_class]:
        raise ValueError(f"n_outliers={n} exceeds the {sizes[outlier_class]} objects of {outlier_class!r}")
    rng = np.random.default_rng(seed)
    outliers = rng.choice(np.flatnonzero(labels == outlier_class), size=n, replace=False)
    inlier_sizes = {c: k for c, k in sizes.items() if c != outlier_class}
    test_inliers, train = [], []
    for c, k in largest_remainder(inlier_sizes, n).items():
        members = rng.permutation(np.flatnonzero(labels == c))
        test_inliers.append(members[:k])
        train.append(members[k:] if max_train_per_class is None else members[k:k + max_train_per_class])
    test = np.concatenate([np.sort(outliers), np.sort(np.concatenate(test_inliers))])
    is_outlier = np.r_[np.ones(n, dtype=bool), np.zeros(n, dtype=bool)]
    return Split(outlier_class, np.sort(np.concatenate(train)), test, is_outlier)


def ranking_metrics(is_outlier: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """AUROC and AUPRC with the outlier as the positive class; scores are "higher = more anomalous".

    AUPRC is scikit-learn's average precision (step-wise, no interpolation), the usual estimate of the area under
    the precision-recall curve.

    Raises
    ------
    ValueError
        When a score is not finite (a scorer bug that would otherwise be ranked silently).
    """
    scores = np.asarray(scores, dtype=np.float64)
    if not np.isfinite(scores).all():
        raise ValueError(f"{int((~np.isfinite(scores)).sum())} scores are NaN or infinite")
    return {"auroc": float(roc_auc_score(is_outlier, scores)),
            "auprc": float(average_precision_score(is_outlier, scores))}


@dataclass
class RunResult:
    """One (outlier class, seed) run."""

    outlier_class: str
    seed: int
    auroc: float
    auprc: float
    n_train: int
    n_test: int
    fit_seconds: float
    score_seconds: float
    # The scorer's other scores measured on the same fit (Scorer.variant_scores): name -> {"auroc", "auprc"}.
    variants: dict[str, dict[str, float]] = field(default_factory=dict)
    # Accuracy of the predicted class on the test inliers (how well the scorer knows the known classes).
    inlier_accuracy: float | None = None
    # The selection step (select_variant): the variant chosen by the inner leave-one-class-out score on the
    # training set alone, its outer metrics, every variant's mean inner AUROC and its AUROC on each inner fold.
    selected: str | None = None
    selected_metrics: dict[str, float] = field(default_factory=dict)
    inner_auroc: dict[str, float] = field(default_factory=dict)
    inner_folds: dict[str, list[float]] = field(default_factory=dict)
    # With keep_scores: the test curves' ids, whether each is an outlier, and every score of each (MAIN_SCORE and the
    # variants), so that other uses of the same fits (combinations, rank plots) need no new training.
    test_ids: list[str] = field(default_factory=list)
    test_is_outlier: list[bool] = field(default_factory=list)
    test_scores: dict[str, list[float]] = field(default_factory=dict)


@dataclass
class ClassResult:
    """Mean and standard deviation (numpy's default, ddof=0) of a class's runs over seeds."""

    outlier_class: str
    auroc_mean: float
    auroc_std: float
    auprc_mean: float
    auprc_std: float
    runs: list[RunResult] = field(default_factory=list)

    @classmethod
    def from_runs(cls, runs: list[RunResult]) -> ClassResult:
        auroc = np.array([r.auroc for r in runs])
        auprc = np.array([r.auprc for r in runs])
        return cls(runs[0].outlier_class, float(auroc.mean()), float(auroc.std()), float(auprc.mean()),
                   float(auprc.std()), runs)


@dataclass
class EvaluationResult:
    """Every class's result for one scorer on one set, printable as Markdown or JSON."""

    dataset: str
    scorer: str
    scorer_config: dict[str, Any]
    seeds: list[int]
    n_outliers: int
    n_objects: int
    classes: list[ClassResult]
    # The cap on training curves per inlier class, when the run had one (protocol_split).
    max_train_per_class: int | None = None
    # The scores the selection step chose among, when it was restricted to them before the run (select_candidates).
    select_candidates: list[str] | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvaluationResult:
        """Rebuild a result from :meth:`as_dict` output (e.g. a saved ``--json`` file), to re-render its table."""
        classes = [ClassResult(**{**c, "runs": [RunResult(**r) for r in c["runs"]]}) for c in data["classes"]]
        return cls(**{**data, "classes": classes})

    def to_markdown(self) -> str:
        """A table like thesis Table 9.3: mean ± std in %, one row per outlier class, then the mean over classes."""
        seeds = len(self.seeds)
        lines = ["| Outlier class | AUROC (%) | AUPRC (%) | train | test |",
                 "|---|---|---|---|---|"]
        for c in self.classes:
            run = c.runs[0]
            lines.append(f"| {c.outlier_class} | {100 * c.auroc_mean:.2f} ± {100 * c.auroc_std:.2f} | "
                         f"{100 * c.auprc_mean:.2f} ± {100 * c.auprc_std:.2f} | {run.n_train} | {run.n_test} |")
        if len(self.classes) > 1:
            auroc = np.mean([c.auroc_mean for c in self.classes])
            auprc = np.mean([c.auprc_mean for c in self.classes])
            lines.append(f"| mean over classes | {100 * auroc:.2f} | {100 * auprc:.2f} | | |")
        config = ", ".join(f"{k}={v}" for k, v in sorted(self.scorer_config.items())) or "defaults"
        caption = (f"`{self.scorer}` on {self.dataset} ({self.n_objects} objects), N = {self.n_outliers} outliers + "
                   f"{self.n_outliers} inliers per test set, {seeds} seed(s) {self.seeds}, config: {config}; "
                   "mean ± std (ddof=0) over seeds.")
        if self.max_train_per_class is not None:
            caption += f" Training curves capped at {self.max_train_per_class} per inlier class."
        return caption + "\n\n" + "\n".join(lines) + "\n" + self._variants_markdown() + self._selection_markdown()

    def _selection_markdown(self) -> str:
        """The selection step's choice per run and the chosen score's AUROC, when the evaluation made one."""
        if not any(r.selected for c in self.classes for r in c.runs):
            return ""
        lines = ["| Outlier class | chosen per seed (inner AUROC %) | AUROC of the chosen (%) "
                 "| AUPRC of the chosen (%) | inlier accuracy |", "|---|---|---|---|---|"]
        aurocs = []
        for c in self.classes:
            chosen = ", ".join(f"{r.selected} ({100 * r.inner_auroc[r.selected]:.1f})" for r in c.runs)
            auroc = np.array([r.selected_metrics["auroc"] for r in c.runs])
            auprc = np.array([r.selected_metrics["auprc"] for r in c.runs])
            accuracy = [r.inlier_accuracy for r in c.runs if r.inlier_accuracy is not None]
            aurocs.append(auroc.mean())
            lines.append(f"| {c.outlier_class} | {chosen} | {100 * auroc.mean():.2f} ± {100 * auroc.std():.2f} | "
                         f"{100 * auprc.mean():.2f} ± {100 * auprc.std():.2f} | "
                         f"{np.mean(accuracy) if accuracy else float('nan'):.2f} |")
        if len(self.classes) > 1:
            lines.append(f"| mean over classes | | {100 * np.mean(aurocs):.2f} | | |")
        among = "" if self.select_candidates is None else f"; chosen among {', '.join(self.select_candidates)}"
        return ("\nSelection step (inner leave-one-class-out on each training set; the outlier class takes no "
                f"part; a variant replaces the main score only beyond one standard error{among}):\n\n"
                + "\n".join(lines) + "\n")

    def _variants_markdown(self) -> str:
        """AUROC of each score variant on the same fits (mean ± std over seeds, in %), if the scorer has any."""
        names = sorted({name for c in self.classes for r in c.runs for name in r.variants})
        if not names:
            return ""
        lines = ["| Outlier class | " + " | ".join(f"AUROC `{n}` (%)" for n in names) + " |",
                 "|---|" + "---|" * len(names)]
        means: dict[str, list[float]] = {n: [] for n in names}
        for c in self.classes:
            cells = []
            for n in names:
                values = np.array([r.variants[n]["auroc"] for r in c.runs if n in r.variants])
                means[n].append(values.mean())
                cells.append(f"{100 * values.mean():.2f} ± {100 * values.std():.2f}")
            lines.append(f"| {c.outlier_class} | " + " | ".join(cells) + " |")
        if len(self.classes) > 1:
            lines.append("| mean over classes | " + " | ".join(f"{100 * np.mean(means[n]):.2f}" for n in names)
                         + " |")
        return "\nScore variants of the same fits:\n\n" + "\n".join(lines) + "\n"


def inner_fold_aurocs(dataset: Dataset, scorer_name: str, train: np.ndarray, seed: int,
                      scorer_config: dict[str, Any] | None = None, max_classes: int | None = None
                      ) -> dict[str, list[float]]:
    """AUROC of every score (the main one as :data:`MAIN_SCORE`, and each variant) on each fold of an inner
    leave-one-class-out protocol inside the training set ``train``, in the order of the inner classes.

    Each inlier class of the training set plays the outlier in turn, with the section 9.2 protocol applied to the
    training set alone (N = its smallest class). Only the labels and curves of ``train`` are read: the outer outlier
    class, its labels and its scores take no part, so what this chooses may be reported on the outer test set.
    ``max_classes`` caps the inner folds at that many inlier classes drawn at random from ``seed`` (a cheaper
    selection on sets with many classes).
    """
    labels = np.full(len(dataset.labels), None, dtype=object)
    labels[train] = dataset.labels[train]
    classes = sorted(set(labels[train].tolist()))
    if max_classes is not None and max_classes < len(classes):
        classes = sorted(np.random.default_rng(seed).choice(classes, size=max_classes, replace=False).tolist())
    aurocs: dict[str, list[float]] = {}
    for inner_class in classes:
        split = protocol_split(labels, inner_class, seed)
        run = run_once(dataset, scorer_name, split, seed, scorer_config)
        for name, metrics in {MAIN_SCORE: {"auroc": run.auroc}, **run.variants}.items():
            aurocs.setdefault(name, []).append(metrics["auroc"])
    return aurocs


def one_standard_error_choice(folds: dict[str, list[float]]) -> str:
    """The score to report from its AUROC on each inner fold: the best mean, unless its advantage over
    :data:`MAIN_SCORE` is within one standard error, in which case the main score.

    This is the one-standard-error rule of cross-validation (Hastie, Tibshirani & Friedman, *Elements of Statistical
    Learning*, 7.10): with a handful of inner folds and many candidates, the best inner mean is biased upwards by the
    choice itself, so a variant replaces the scorer's own score only when its paired advantage over it, fold by fold,
    exceeds the standard error of that advantage. One fold gives no standard error and keeps the main score.
    """
    means = {name: float(np.mean(values)) for name, values in folds.items()}
    best = max(sorted(means), key=lambda name: (means[name], name == MAIN_SCORE))
    if best == MAIN_SCORE or MAIN_SCORE not in folds:
        return best
    gain = np.asarray(folds[best]) - np.asarray(folds[MAIN_SCORE])
    if len(gain) < 2:
        return MAIN_SCORE
    standard_error = float(np.std(gain, ddof=1) / np.sqrt(len(gain)))
    return best if gain.mean() > standard_error else MAIN_SCORE


def candidate_folds(folds: dict[str, list[float]], candidates: Sequence[str] | None) -> dict[str, list[float]]:
    """The inner folds of the scores named in ``candidates`` and of :data:`MAIN_SCORE` (the rule's fallback); all of
    ``folds`` when None.

    A short list fixed before the run is how a selection stays fair with few inner folds: the one-SE rule's
    protection weakens as candidates are added, since the best of many inner means is biased upwards.

    Raises
    ------
    ValueError
        When a candidate is not among the scorer's scores (naming those that are).
    """
    if candidates is None:
        return folds
    unknown = sorted(set(candidates) - set(folds))
    if unknown:
        raise ValueError(f"selection candidate(s) {unknown} are not scores of this scorer; its scores: {sorted(folds)}")
    return {name: values for name, values in folds.items() if name in candidates or name == MAIN_SCORE}


def select_variant(run: RunResult, folds: dict[str, list[float]], candidates: Sequence[str] | None = None
                   ) -> RunResult:
    """``run`` with the score chosen by :func:`one_standard_error_choice` on the inner folds ``folds`` of the
    ``candidates`` (:func:`candidate_folds`); every score's inner folds are kept."""
    best = one_standard_error_choice(candidate_folds(folds, candidates))
    chosen = {"auroc": run.auroc, "auprc": run.auprc} if best == MAIN_SCORE else run.variants[best]
    inner = {name: float(np.mean(values)) for name, values in folds.items()}
    return replace(run, selected=best, selected_metrics=dict(chosen), inner_auroc=inner, inner_folds=folds)


def run_once(dataset: Dataset, scorer_name: str, split: Split, seed: int,
             scorer_config: dict[str, Any] | None = None, keep_scores: bool = False) -> RunResult:
    """Fit a fresh scorer on ``split.train``, score ``split.test`` and measure the ranking (with ``keep_scores``,
    keep every test curve's scores in the result)."""
    config = dict(scorer_config or {}) | {"seed": seed}
    curves, labels = dataset.lightcurves, dataset.labels
    scorer = get_scorer(scorer_name, **config)
    start = time.perf_counter()
    scorer.fit([curves[i] for i in split.train], labels[split.train].tolist())
    fitted = time.perf_counter()
    result = scorer.score([curves[i] for i in split.test])
    scored = time.perf_counter()
    metrics = ranking_metrics(split.is_outlier, result.scores)
    all_scores = scorer.named_scores(result)
    variants = {name: ranking_metrics(split.is_outlier, scores) for name, scores in all_scores.items()
                if name != MAIN_SCORE}
    inliers = [(o, labels[i]) for o, i, out in zip(result.objects, split.test, split.is_outlier, strict=True)
               if not out]
    accuracy = float(np.mean([o.predicted_class == label for o, label in inliers]))
    run = RunResult(split.outlier_class, seed, metrics["auroc"], metrics["auprc"], len(split.train),
                    len(split.test), round(fitted - start, 3), round(scored - fitted, 3), variants,
                    accuracy if any(o.predicted_class is not None for o, _ in inliers) else None)
    if not keep_scores:
        return run
    return replace(run, test_ids=[o.object_id for o in result.objects], test_is_outlier=split.is_outlier.tolist(),
                   test_scores={name: np.asarray(v, dtype=float).tolist() for name, v in all_scores.items()})


def evaluate(dataset: Dataset, scorer_name: str, outlier_classes: Sequence[str] | None = None,
             seeds: int | Sequence[int] = 3, scorer_config: dict[str, Any] | None = None,
             progress: bool = True, select_seeds: int = 0, select_classes: int | None = None,
             max_train_per_class: int | None = None, keep_scores: bool = False,
             select_candidates: Sequence[str] | None = None) -> EvaluationResult:
    """Run the section 9.2 protocol for one scorer: every outlier class (default: all), every seed.

    Parameters
    ----------
    dataset
        A labelled set from :func:`models.readers.read_dataset`.
    scorer_name
        Any name of :func:`models.scorers.list_scorers`; the scorer is built by :func:`models.scorers.get_scorer`.
    outlier_classes
        Classes to play the outlier; all classes of the set when None.
    seeds
        A count n (seeds 0..n-1) or explicit seeds. Each seed draws the split and is passed to the scorer as
        ``seed`` (when the scorer accepts it), overriding any ``seed`` in ``scorer_config``.
    scorer_config
        Keyword arguments of the scorer.
    progress
        Show a tqdm bar on stderr.
    select_seeds
        Add the selection step when positive: for each outlier class, choose among the scorer's scores by
        :func:`inner_fold_aurocs` on the training sets of its first ``select_seeds`` seeds (one more fit per inlier
        class and seed; the inner folds of those seeds are pooled and :func:`one_standard_error_choice` chooses),
        and report the chosen score for every seed of that class beside the others. Only training sets are read,
        so the choice never sees the outlier class.
    select_classes
        At most this many inner folds per selection (inlier classes drawn at random); all of them when None.
    max_train_per_class
        Cap on the training curves per inlier class (:func:`protocol_split`), stated in the result.
    keep_scores
        Keep every outer test curve's scores in the result (:class:`RunResult`), for later analysis of the same fits.
    select_candidates
        With ``select_seeds``: choose only among these scores and the main one (:func:`candidate_folds`); every
        score when None. The inner AUROC of every score is kept either way.

    Raises
    ------
    ValueError
        When an outlier class is not in the set (naming the classes that are), or a candidate is not a score of the
        scorer (after the first selection's fits).
    """
    labels = dataset.labels
    classes = dataset.classes
    chosen = list(classes if outlier_classes is None else outlier_classes)
    unknown = [c for c in chosen if c not in classes]
    if unknown:
        raise ValueError(f"outlier class(es) {unknown} not in {dataset.name}; classes: {classes}")
    seed_list = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    config = {k: v for k, v in (scorer_config or {}).items() if k != "seed"}
    results = []
    with tqdm(total=len(chosen) * len(seed_list), desc=f"evaluate {scorer_name}", disable=not progress) as bar:
        for outlier_class in chosen:
            runs, inner = [], []
            for i, seed in enumerate(seed_list):
                bar.set_postfix(outlier=outlier_class, seed=seed)
                split = protocol_split(labels, outlier_class, seed, max_train_per_class=max_train_per_class)
                runs.append(run_once(dataset, scorer_name, split, seed, config, keep_scores))
                if i < select_seeds:
                    inner.append(inner_fold_aurocs(dataset, scorer_name, split.train, seed, config, select_classes))
                bar.update()
            if inner:
                folds = {name: [auroc for part in inner for auroc in part[name]] for name in inner[0]}
                runs = [select_variant(run, folds, select_candidates) for run in runs]
            results.append(ClassResult.from_runs(runs))
    n_outliers = min(int((labels == c).sum()) for c in classes)
    return EvaluationResult(dataset=dataset.name, scorer=scorer_name, scorer_config=config, seeds=seed_list,
                            n_outliers=n_outliers, n_objects=len(dataset.lightcurves), classes=results,
                            max_train_per_class=max_train_per_class,
                            select_candidates=None if select_candidates is None else list(select_candidates))


def merge_results(results: Sequence[EvaluationResult]) -> EvaluationResult:
    """One result from runs of the same evaluation split by outlier class or by seed (e.g. one process or machine per
    class, or seeds 1 and 2 run after seed 0): each class's runs are pooled and its mean and std recomputed.

    Raises
    ------
    ValueError
        When the parts differ in set, scorer or config, a (class, seed) run appears in two parts, or the classes end
        with different seeds.
    """
    if not results:
        raise ValueError("nothing to merge")
    first = results[0]
    same = ("dataset", "scorer", "scorer_config", "n_outliers", "n_objects", "max_train_per_class",
            "select_candidates")
    for other in results[1:]:
        differing = [key for key in same if getattr(other, key) != getattr(first, key)]
        if differing:
            raise ValueError(f"cannot merge evaluations that differ in {', '.join(differing)}")
    runs: dict[str, list[RunResult]] = {}
    for c in (c for r in results for c in r.classes):
        runs.setdefault(c.outlier_class, []).extend(c.runs)
    repeated = sorted(name for name, rs in runs.items() if len({r.seed for r in rs}) < len(rs))
    if repeated:
        raise ValueError(f"outlier class(es) {repeated} appear in more than one part with the same seed")
    seeds = {name: sorted(r.seed for r in rs) for name, rs in runs.items()}
    if len({tuple(s) for s in seeds.values()}) > 1:
        raise ValueError(f"the classes end with different seeds: {seeds}")
    classes = [ClassResult.from_runs(sorted(rs, key=lambda r: r.seed)) for _, rs in sorted(runs.items())]
    return replace(first, seeds=next(iter(seeds.values())), classes=classes)


def _inner_of_chosen(c: ClassResult) -> float:
    """Mean inner AUROC of the score the selection step chose, over the class's runs that ran the inner protocol."""
    values = [r.inner_auroc[r.selected] for r in c.runs if r.selected and r.selected in r.inner_auroc]
    if not values:
        raise ValueError(f"class {c.outlier_class!r} has no selection step to choose a configuration by")
    return float(np.mean(values))


def choose_configuration(results: Sequence[EvaluationResult]) -> list[dict[str, Any]]:
    """Per outlier class, the configuration (one evaluation each, run with the selection step) whose chosen score had
    the best mean inner AUROC, with the outer AUROC of that choice.

    The inner AUROC is measured on the training sets alone (:func:`inner_fold_aurocs`), so choosing among configurations
    by it reads nothing of the outlier class, as choosing among score variants does.

    Raises
    ------
    ValueError
        When the evaluations differ in set, scorer or seeds, lack a selection step, or do not share their classes.
    """
    if len(results) < 2:
        raise ValueError("choosing a configuration needs at least two evaluations")
    first = results[0]
    for other in results[1:]:
        differing = [k for k in ("dataset", "scorer", "seeds", "n_outliers") if getattr(other, k) != getattr(first, k)]
        if differing:
            raise ValueError(f"cannot choose among evaluations that differ in {', '.join(differing)}")
    by_class = [{c.outlier_class: c for c in r.classes} for r in results]
    shared = sorted(set.intersection(*(set(classes) for classes in by_class)))
    if not shared:
        raise ValueError("the evaluations share no outlier class")
    rows = []
    for name in shared:
        inner = [_inner_of_chosen(classes[name]) for classes in by_class]
        best = int(np.argmax(inner))
        chosen = by_class[best][name]
        rows.append({"outlier_class": name, "configuration": results[best].scorer_config, "inner_auroc": inner,
                     "score": chosen.runs[0].selected,
                     "auroc": float(np.mean([r.selected_metrics["auroc"] for r in chosen.runs])),
                     "auroc_std": float(np.std([r.selected_metrics["auroc"] for r in chosen.runs]))})
    return rows


def choice_markdown(results: Sequence[EvaluationResult], rows: list[dict[str, Any]]) -> str:
    """:func:`choose_configuration`'s answer as a table: inner AUROC per configuration, the choice, its outer AUROC."""
    labels = [", ".join(f"{k}={v}" for k, v in sorted(r.scorer_config.items())) or "defaults" for r in results]
    head = " | ".join(f"inner: {label} (%)" for label in labels)
    lines = [f"| Outlier class | {head} | chosen configuration | chosen score | AUROC of the choice (%) |",
             "|---|" + "---|" * (len(labels) + 3)]
    for row in rows:
        inner = " | ".join(f"{100 * v:.1f}" for v in row["inner_auroc"])
        label = labels[[r.scorer_config for r in results].index(row["configuration"])]
        lines.append(f"| {row['outlier_class']} | {inner} | {label} | {row['score']} | "
                     f"{100 * row['auroc']:.2f} ± {100 * row['auroc_std']:.2f} |")
    lines.append(f"| mean over classes | {' | ' * len(labels)} | | {100 * np.mean([r['auroc'] for r in rows]):.2f} |")
    return "\n".join(lines) + "\n"
