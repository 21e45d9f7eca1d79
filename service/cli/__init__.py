"""The `lcad` command line: one subcommand per module in this package.

Each module defines ``add_parser(subparsers)``, which registers its subcommand and sets ``func`` (taking the parsed
arguments, returning an exit code). Add a module to :data:`COMMANDS` to expose it.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

# Order is the order shown by `lcad --help`.
COMMANDS = ["train", "score", "plot", "evaluate", "feedback", "periods", "alerts", "stream", "bench", "serve", "worker",
            "keys", "model", "db"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lcad", description="Anomaly detection in astronomical light curves.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(f"service.cli.{name}").add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; a failure prints one line (``lcad -v`` shows the traceback) and exits with 1."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as err:
        if args.verbose:
            raise
        sys.stderr.write(f"lcad {args.command}: {str(err).splitlines()[0] if str(err) else type(err).__name__}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
