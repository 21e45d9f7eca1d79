"""`lcad db upgrade|downgrade [REVISION]`: run the migrations on the configured database (LCAD_DATABASE_URL)."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("db", help="apply or roll back database migrations")
    parser.add_argument("action", choices=["upgrade", "downgrade"])
    parser.add_argument("revision", nargs="?", default=None, help="default: head (upgrade), -1 (downgrade)")
    parser.add_argument("--wait", type=float, default=60.0, help="seconds to wait for the database to answer")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from alembic import command

    from service.config import get_settings
    from service.db import alembic_config
    from service.runtime import wait_for_db

    url = get_settings().db_url
    wait_for_db(url, args.wait)
    if args.action == "upgrade":
        command.upgrade(alembic_config(url), args.revision or "head")
    else:
        command.downgrade(alembic_config(url), args.revision or "-1")
    return 0
