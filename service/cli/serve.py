"""`lcad serve [--host H] [--port P]`: the API; with no configuration, the whole service on this machine.

Without ``LCAD_BROKER_URL`` it scores in a thread pool of the API process, stores to a SQLite file under
``LCAD_DATA_DIR`` and uses the default model; migrations run at start.
"""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("serve", help="run the HTTP API (embedded mode without configuration)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (deployed mode only)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from service.config import get_settings

    settings = get_settings()
    if settings.embedded and args.workers > 1:
        raise SystemExit("lcad serve: --workers > 1 needs LCAD_BROKER_URL (embedded scoring lives in one process)")
    # proxy_headers=False: the app itself believes X-Forwarded-For only from LCAD_TRUSTED_PROXIES.
    uvicorn.run("service.api.main:create_app", factory=True, host=args.host, port=args.port, workers=args.workers,
                log_level="info", proxy_headers=False)
    return 0
