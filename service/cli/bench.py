"""`lcad bench NAME [--json]`: benchmarks that print numbers (never timed tests).

Each benchmark is a module ``service.bench.<name>`` exposing ``add_arguments(parser)`` and ``run(args) -> dict``;
the dict is printed as JSON with ``--json``, else as ``key: value`` lines.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys

BENCHMARKS = {"periods": "service.bench.periods", "service": "service.bench.service", "model": "service.bench.model",
              "stream": "service.bench.stream", "upload": "service.bench.upload",
              "reading": "service.bench.reading"}


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("bench", help="run a benchmark and print its numbers")
    names = parser.add_subparsers(dest="benchmark", required=True)
    for name, module_name in BENCHMARKS.items():
        module = importlib.import_module(module_name)
        sub = names.add_parser(name, help=(module.__doc__ or "").strip().splitlines()[0])
        sub.add_argument("--json", action="store_true", help="print one JSON object")
        module.add_arguments(sub)
        sub.set_defaults(func=_runner(module))


def _runner(module):
    def run(args: argparse.Namespace) -> int:
        result = module.run(args)
        if args.json:
            json.dump(result, sys.stdout, indent=2)
            sys.stdout.write("\n")
        else:
            for key, value in result.items():
                sys.stdout.write(f"{key}: {value}\n")
        return 0

    return run
