"""`lcad train`: fit any registered scorer on a labelled set and save it to one file (config travels with it).

Example: ``lcad train --data ../shared/data/crts --preset small --steps 100 --limit 500 --out /tmp/m.pt``.
``--epochs E`` instead of ``--steps`` trains for E passes over the training curves, converted to optimiser steps.
Scorers trained by optimiser steps (LC-VaDE) write the file after every round of steps; ``--resume FILE`` continues
such a run (use ``--steps`` to extend it). ``--set KEY=VALUE`` passes any other config value.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from models.scorers import list_scorers
from service.cli.options import add_periods_option, add_preset_option

log = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("train", help="train a scorer on a labelled set and save it",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="labelled set (directory in the shared layout, or a file)")
    parser.add_argument("--scorer", default="lcvade", choices=list_scorers(), help="registered scorer (lcvade)")
    parser.add_argument("--out", required=True, type=Path, help="file to write the fitted scorer to")
    parser.add_argument("--exclude-class", action="append", default=[], metavar="C",
                        help="leave this class out of training (repeatable)")
    add_preset_option(parser)
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--steps", type=int, default=None,
                        help="training length in optimiser steps (scorer default if omitted)")
    length.add_argument("--epochs", type=float, default=None,
                        help="training length in passes over the training curves (turned into optimiser steps)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=None, help="read only the first N objects")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--resume", type=Path, default=None, help="continue training a file written by lcad train")
    parser.add_argument("--set", action="append", default=[], dest="settings", metavar="KEY=VALUE",
                        help="other scorer config values")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    add_periods_option(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from models.readers import read_dataset
    from models.scorers import get_scorer, load_scorer
    from service.cli.evaluate import parse_settings

    dataset = read_dataset(args.data, limit=args.limit, periods=args.periods)
    sys.stderr.write(f"{dataset.name}: {dataset.report.summary()}\n")
    curves = [lc for lc in dataset.lightcurves if lc.label is not None and lc.label not in args.exclude_class]
    if not curves:
        sys.stderr.write("lcad train: no labelled curves left to train on\n")
        return 2
    config = parse_settings(args.settings) | {"preset": args.preset, "steps": args.steps, "device": args.device}
    try:
        if args.resume is not None:
            scorer = load_scorer(args.resume, device=args.device)
            scorer.continue_with(steps=args.steps)
            scorer.progress = not args.no_progress
        else:
            scorer = get_scorer(args.scorer, seed=args.seed, progress=not args.no_progress, **config)
        if args.epochs is not None:
            scorer.train_for_epochs(args.epochs, len(curves))
    except (ValueError, TypeError) as err:
        sys.stderr.write(f"lcad train: {err}\n")
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    labels = [lc.label for lc in curves]
    scorer.fit(curves, labels, checkpoint=args.out)  # iterative scorers also write it while they train
    sys.stderr.write(f"lcad train: {scorer.name} on {len(curves)} curves "
                     f"({len(set(labels))} classes) saved to {args.out}\n")
    return 0
