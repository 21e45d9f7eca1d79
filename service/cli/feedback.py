"""`lcad feedback`: how much expert labels improve the ranking, by simulation (active anomaly detection).

Each class in turn is held out as a rare target (``--fraction`` of the population, the rest being every object of
the other classes); an isolation forest on the Fink light-curve features plus log10 period ranks them; a simulated
expert labels the top ``--per-round`` unlabelled objects each round with their true classes; coniferest's AADForest
re-weights the forest (:mod:`models.feedback`). Prints the precision at ``--at`` after 0, 1, 3 and 5 rounds, mean
and standard deviation over seeds, as a Markdown table (or JSON).

Example: ``lcad feedback --data ../shared/data/crts --seeds 3``.
"""

from __future__ import annotations

import argparse
import json
import sys

from service.cli.options import add_periods_option

ROUNDS = (0, 1, 3, 5)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("feedback", help="simulate re-ranking from expert labels (precision at k)",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="labelled set (directory in the shared layout, or a file)")
    parser.add_argument("--held-out", action="append", dest="targets", metavar="C",
                        help="class held out as the target (repeatable; default: every class)")
    parser.add_argument("--seeds", type=int, default=3, help="number of seeds, 0..N-1 (default 3)")
    parser.add_argument("--fraction", type=float, default=0.01, help="share of the target in the population")
    parser.add_argument("--per-round", type=int, default=10, help="objects the expert labels per round")
    parser.add_argument("--at", type=int, default=50, help="k of the precision at k")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a Markdown table")
    add_periods_option(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from models.features import FeatureSpace
    from models.feedback import evaluate_feedback
    from models.readers import read_dataset

    dataset = read_dataset(args.data, periods=args.periods)
    sys.stderr.write(f"{dataset.name}: {dataset.report.summary()}\n")
    keep = [i for i, label in enumerate(dataset.labels) if label is not None]
    curves, labels = [dataset.lightcurves[i] for i in keep], [dataset.labels[i] for i in keep]
    _space, features = FeatureSpace.fit(curves, with_period=True)
    targets = args.targets or sorted(set(labels))
    unknown = sorted(set(targets) - set(labels))
    if unknown:
        sys.stderr.write(f"lcad feedback: unknown class(es) {unknown}; classes: {sorted(set(labels))}\n")
        return 2
    results = evaluate_feedback(features, labels, targets, seeds=args.seeds, fraction=args.fraction, rounds=ROUNDS,
                                per_round=args.per_round, at=args.at)
    if args.json:
        json.dump({"fraction": args.fraction, "per_round": args.per_round, "at": args.at, "results": results},
                  sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    header = " | ".join(f"{r} round{'s' if r != 1 else ''}" for r in ROUNDS)
    lines = [f"| held-out class | {header} |", "|---" * (len(ROUNDS) + 1) + "|"]
    for target, per_rounds in results.items():
        cells = " | ".join(f"{np.mean(v):.2f} ± {np.std(v):.2f}" for v in per_rounds.values())
        lines.append(f"| {target} | {cells} |")
    means = " | ".join(f"{np.mean([np.mean(p[r]) for p in results.values()]):.2f}" for r in ROUNDS)
    lines.append(f"| **mean** | {means} |")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
