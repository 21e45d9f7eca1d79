"""`lcad evaluate`: the outlier-class protocol of thesis section 9.2 for any registered scorer.

Example: ``lcad evaluate --data ../shared/data/crts --scorer iforest --outlier-class RRc --seeds 1 --json``.
Classes and seeds can run in separate processes or machines, each writing ``--json`` (``--seeds 1,2`` adds seeds to an
earlier ``--seeds 1`` run); ``lcad evaluate --merge A.json B.json``
then prints the table of all of them.
The cleaning report of the loaded set and the progress bar go to stderr; the Markdown table (or JSON) to stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from models.scorers import list_scorers
from service.cli.options import add_periods_option, add_preset_option

if TYPE_CHECKING:
    from models.evaluation import EvaluationResult


def parse_value(text: str) -> Any:
    """A ``--set`` value as int, float, bool (true/false, any case), None (none/null) or, failing those, str."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_settings(items: list[str]) -> dict[str, Any]:
    """``["KEY=VALUE", ...]`` as a config dict; a later KEY overrides an earlier one."""
    config: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise argparse.ArgumentTypeError(f"--set expects KEY=VALUE, got {item!r}")
        config[key.strip()] = parse_value(value)
    return config


def parse_seeds(text: str) -> int | list[int]:
    """``"3"`` as a count (seeds 0..2), ``"1,2"`` as those seeds, ``"1,"`` as seed 1 alone."""
    try:
        seeds = [int(s) for s in text.split(",") if s] if "," in text else int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seeds expects N or S1,S2,..., got {text!r}") from None
    if (seeds < 1) if isinstance(seeds, int) else not seeds:
        raise argparse.ArgumentTypeError(f"--seeds {text!r} runs no seed: give a count of at least 1 or a comma "
                                         "list ('0,' for seed 0 alone)")
    return seeds


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("evaluate", help="AUROC/AUPRC of a scorer with each class as the outlier",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", help="labelled set (directory in the shared layout, or a file); required unless "
                        "--merge")
    parser.add_argument("--scorer", choices=list_scorers(), help="registered scorer name; required unless --merge")
    parser.add_argument("--merge", nargs="+", type=Path, metavar="JSON",
                        help="instead of running: combine --json outputs of the same evaluation run per class or per "
                        "seed")
    parser.add_argument("--choose", nargs="+", type=Path, metavar="JSON",
                        help="instead of running: per outlier class, choose among evaluations of different "
                        "configurations (each a --json output run with --select) by the inner AUROC alone")
    parser.add_argument("--outlier-class", action="append", dest="outlier_classes", metavar="C",
                        help="class playing the outlier (repeatable; default: every class)")
    parser.add_argument("--seeds", type=parse_seeds, default=3,
                        help="number of seeds, 0..N-1 (default 3), or a comma list of seeds (e.g. 1,2, to add seeds "
                        "to an earlier run with --merge)")
    add_preset_option(parser)  # recorded in the result's configuration
    parser.add_argument("--set", action="append", default=[], dest="settings", metavar="KEY=VALUE",
                        help="scorer config value (repeatable; parsed as int, float, bool or str)")
    parser.add_argument("--limit", type=int, default=None, help="read only the first N objects (quick runs)")
    parser.add_argument("--max-train-per-class", type=int, default=None, metavar="N",
                        help="train on at most N curves per inlier class, drawn at random (stated in the result)")
    parser.add_argument("--select", type=int, default=0, metavar="K",
                        help="add the selection step: per outlier class, choose among the scorer's score variants by "
                        "an inner leave-one-class-out on the training sets of its first K seeds alone (K more fits "
                        "per inlier class); a variant replaces the main score only when its gain over it exceeds "
                        "one standard error over the inner folds; default 0, no selection")
    parser.add_argument("--select-classes", type=int, default=None, metavar="M",
                        help="with --select: at most M inner folds (inlier classes drawn at random), for sets with "
                        "many classes")
    parser.add_argument("--candidates", type=lambda text: [name for name in text.split(",") if name],
                        default=None, metavar="A,B,...",
                        help="with --select: choose only among these scores and the main one (a short list fixed "
                        "before the run); default: every score of the scorer")
    parser.add_argument("--keep-scores", action="store_true",
                        help="with --json: keep every test curve's scores (main and variants) in each run")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a Markdown table")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    add_periods_option(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from models.evaluation import EvaluationResult, evaluate, merge_results
    from models.readers import read_dataset

    if args.choose:
        return _choose(args.choose)
    if args.merge:
        try:
            result = merge_results([EvaluationResult.from_dict(json.loads(p.read_text())) for p in args.merge])
        except (OSError, ValueError, KeyError, TypeError) as err:
            sys.stderr.write(f"lcad evaluate --merge: {err}\n")
            return 2
        return _print(result, args.json)
    if args.data is None or args.scorer is None:
        sys.stderr.write("lcad evaluate: --data and --scorer are required (unless --merge)\n")
        return 2
    try:
        config = parse_settings(args.settings) | ({"preset": args.preset} if args.preset else {})
    except argparse.ArgumentTypeError as err:
        sys.stderr.write(f"lcad evaluate: {err}\n")
        return 2
    dataset = read_dataset(args.data, limit=args.limit, periods=args.periods)
    sys.stderr.write(f"{dataset.name}: {dataset.report.summary()}\n")
    try:
        result = evaluate(dataset, args.scorer, outlier_classes=args.outlier_classes, seeds=args.seeds,
                          scorer_config=config, progress=not args.no_progress, select_seeds=args.select,
                          select_classes=args.select_classes, max_train_per_class=args.max_train_per_class,
                          keep_scores=args.keep_scores, select_candidates=args.candidates)
    except (ValueError, TypeError) as err:
        sys.stderr.write(f"lcad evaluate: {err}\n")
        return 2
    return _print(result, args.json)


def _choose(paths: list[Path]) -> int:
    from models.evaluation import EvaluationResult, choice_markdown, choose_configuration

    try:
        results = [EvaluationResult.from_dict(json.loads(p.read_text())) for p in paths]
        rows = choose_configuration(results)
    except (OSError, ValueError, KeyError, TypeError) as err:
        sys.stderr.write(f"lcad evaluate --choose: {err}\n")
        return 2
    sys.stdout.write(choice_markdown(results, rows))
    return 0


def _print(result: EvaluationResult, as_json: bool) -> int:
    if as_json:
        json.dump(result.as_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(result.to_markdown())
    return 0
