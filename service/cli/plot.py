"""`lcad plot`: figures of a trained model on a labelled set, like thesis figures 9.5, 9.6 and 9.8.

Example: ``lcad plot --model models/default_model/lcvade_crts.pt --data ../shared/data/crts --limit 2000 --out /tmp/f``
writes ``reconstructions.png`` (one curve per class: folded data with error bars, predicted mean ± error, induction
points with their errors), ``extremes.png`` (lowest and highest scored objects) and ``histogram.png`` (scores by class,
or inliers against ``--outlier-class``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from service.cli.options import add_periods_option


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("plot", help="reconstruction, extreme-score and histogram figures of a model",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=None, help="scorer file (default: the shipped LC-VaDE model)")
    parser.add_argument("--data", required=True, help="labelled set")
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument("--limit", type=int, default=None, help="read only the first N objects")
    parser.add_argument("--outlier-class", default=None, help="class shown as outliers in the histogram")
    parser.add_argument("--seed", type=int, default=0, help="which curves are drawn per class")
    add_periods_option(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from models.plots import write_figures
    from models.readers import read_dataset
    from models.scorers import load_scorer

    scorer = load_scorer(args.model)
    dataset = read_dataset(args.data, limit=args.limit, periods=args.periods)
    paths = write_figures(scorer, dataset.lightcurves, args.out, outlier_class=args.outlier_class, seed=args.seed)
    for path in paths:
        sys.stderr.write(f"lcad plot: wrote {path}\n")
    return 0
