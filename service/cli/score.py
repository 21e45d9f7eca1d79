"""`lcad score`: score light curves with a saved scorer (the shipped LC-VaDE model by default) into a Parquet table.

Example: ``lcad score --data ../shared/data/crts --limit 200 --out /tmp/scores.parquet``.
One row per object: ``object_id``, ``score`` (higher = more anomalous), ``predicted_class``, ``period`` and
``period_source`` (given with the curve or searched), ``flags``, ``label`` (when the set has one) and one
``term_<name>`` column per score term (for LC-VaDE: the IAS, its two terms and every score variant). Curves the model
cannot score (no band it knows) are listed on stderr with the reason and left out.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from service.cli.options import add_periods_option


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("score", help="score light curves with a saved model",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=None, help="scorer file (default: the shipped LC-VaDE model)")
    parser.add_argument("--data", required=True, help="directory in the shared layout, or a table file")
    parser.add_argument("--limit", type=int, default=None, help="score only the first N objects")
    parser.add_argument("--out", required=True, type=Path, help="output .parquet file")
    parser.add_argument("--posterior", action="store_true", help="add the class posterior as a JSON column")
    add_periods_option(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from models.readers import read_dataset
    from models.scorers import DEFAULT_MODEL_PATH, load_scorer

    model_path = args.model or DEFAULT_MODEL_PATH
    if not Path(model_path).exists():
        sys.stderr.write(f"lcad score: model file {model_path} not found\n")
        return 2
    scorer = load_scorer(model_path)
    dataset = read_dataset(args.data, limit=args.limit, periods=args.periods)
    sys.stderr.write(f"{dataset.name}: {dataset.report.summary()}\n")
    result = scorer.score(dataset.lightcurves)
    rows = []
    for error in result.rejections:
        sys.stderr.write(f"lcad score: rejected: {error}\n")
    for lc, obj in zip(dataset.lightcurves, result.objects, strict=True):
        if obj is None:
            continue
        row = {"object_id": obj.object_id, "score": obj.score, "predicted_class": obj.predicted_class,
               "period": obj.period, "period_source": obj.period_source, "flags": " ".join(obj.flags),
               "label": lc.label} | {f"term_{k}": v for k, v in obj.terms.items()}
        if args.posterior:
            row["class_posterior"] = json.dumps(obj.class_posterior)
        rows.append(row)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_parquet(args.out, index=False)
    sys.stderr.write(f"lcad score: {len(rows)} objects scored with {scorer.name} ({model_path}) -> {args.out}\n")
    return 0
