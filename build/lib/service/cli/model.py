"""`lcad model list|register|activate`: the service's model registry (admin actions, also under /models)."""

from __future__ import annotations

import argparse
import json
import sys


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("model", help="register, activate and list the service's models")
    actions = parser.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="registered models; * marks the active one").set_defaults(func=_list)
    register = actions.add_parser("register", help="register a saved scorer file")
    register.add_argument("path")
    register.add_argument("--version", default=None, help="name (default <scorer>-<sha256 prefix>)")
    register.add_argument("--metrics", default=None, help="JSON file or JSON text of evaluation metrics")
    register.add_argument("--activate", action="store_true")
    register.set_defaults(func=_register)
    activate = actions.add_parser("activate", help="make a registered version the default")
    activate.add_argument("version")
    activate.set_defaults(func=_activate)


def _sessions():
    from service.config import get_settings
    from service.db import get_sessionmaker, migrate

    url = get_settings().db_url
    migrate(url)
    return get_sessionmaker(url)


def _metrics(value: str | None) -> dict:
    if value is None:
        return {}
    from pathlib import Path

    return json.loads(Path(value).read_text() if Path(value).is_file() else value)


def _list(_: argparse.Namespace) -> int:
    from service import crud

    with _sessions()() as session:
        for m in crud.list_models(session=session):
            sys.stdout.write(f"{'*' if m.active else ' '} {m.version}\t{m.scorer}\t{m.path}\t{json.dumps(m.metrics)}\n")
    return 0


def _register(args: argparse.Namespace) -> int:
    from service import crud

    with _sessions()() as session:
        model = crud.register_model(session=session, path=args.path, version=args.version,
                                    metrics=_metrics(args.metrics), activate=args.activate)
        sys.stdout.write(f"{model.version}{' (active)' if model.active else ''}\n")
    return 0


def _activate(args: argparse.Namespace) -> int:
    from service import crud

    with _sessions()() as session:
        if crud.activate_model(session=session, version=args.version) is None:
            raise SystemExit(f"lcad model activate: no model {args.version!r}; see `lcad model list`")
    return 0
