"""Options several subcommands share, defined once so their help and meaning cannot drift apart."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_periods_option(parser: argparse.ArgumentParser) -> None:
    """``--periods FILE``: a table of periods (``lcad periods`` output) that replaces the set's own."""
    parser.add_argument("--periods", type=Path, default=None, metavar="TABLE",
                        help="CSV/Parquet with object_id and period columns (e.g. from `lcad periods`) replacing the "
                             "set's own periods for the objects it lists")


def add_preset_option(parser: argparse.ArgumentParser) -> None:
    """``--preset NAME``: one of the scorer's presets (its default when omitted)."""
    parser.add_argument("--preset", default=None,
                        help="scorer preset (default: the scorer's own, small (CPU) for a torch scorer; the "
                             "published sizes: thesis for lcvade, paper for the others; tiny for tests)")
