"""`lcad keys create|list|revoke`: API keys (stored hashed; the key is printed once, at creation)."""

from __future__ import annotations

import argparse
import sys

from service.config import SCOPES


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("keys", help="create, list and revoke API keys")
    actions = parser.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="create a key and print it (once)")
    create.add_argument("name")
    create.add_argument("--scopes", default="read,submit", help=f"comma-separated: {', '.join(SCOPES)}")
    create.add_argument("--rate-limit", type=int, default=None, help="requests per minute (default from settings)")
    create.set_defaults(func=_create)
    actions.add_parser("list", help="list keys (never their values)").set_defaults(func=_list)
    revoke = actions.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("key_id", type=int)
    revoke.set_defaults(func=_revoke)


def _sessions():
    from service.config import get_settings
    from service.db import get_sessionmaker, migrate

    url = get_settings().db_url
    migrate(url)
    return get_sessionmaker(url)


def _create(args: argparse.Namespace) -> int:
    from service import crud

    scopes = [s.strip() for s in args.scopes.split(",") if s.strip()]
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise SystemExit(f"lcad keys create: unknown scope(s) {unknown}; use {', '.join(SCOPES)}")
    with _sessions()() as session:
        row, plain = crud.create_api_key(session=session, name=args.name, scopes=scopes,
                                         rate_limit_per_minute=args.rate_limit)
    sys.stdout.write(f"{plain}\n")
    sys.stderr.write(f"key {row.id} ({args.name}, scopes: {row.scopes}); store it now, it is not shown again\n")
    return 0


def _list(_: argparse.Namespace) -> int:
    from service import crud

    with _sessions()() as session:
        for row in crud.list_api_keys(session=session):
            state = "revoked" if row.revoked_at else "active"
            sys.stdout.write(f"{row.id}\t{row.name}\t{row.scopes}\t{state}\t{row.created_at:%Y-%m-%d}\n")
    return 0


def _revoke(args: argparse.Namespace) -> int:
    from service import crud

    with _sessions()() as session:
        if not crud.revoke_api_key(session=session, key_id=args.key_id):
            raise SystemExit(f"lcad keys revoke: no key {args.key_id}")
    return 0
