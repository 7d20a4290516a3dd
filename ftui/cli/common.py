"""What every `ftui` command module shares: exit codes, --json output, opening the store, and
the one way to declare commands (`group` and `leaf`). Defines no commands itself."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

EXIT_OK, EXIT_SKIPPED, EXIT_ERROR = 0, 1, 2

Handler = Callable[[argparse.Namespace], int]


def group(parent, name: str, *, help: str, description: str | None = None):  # noqa: A002
    """A command group (`ftui NAME ACTION ...`): returns the subparsers its leaves go into."""
    p = parent.add_parser(name, help=help, description=description or help)
    return p.add_subparsers(dest=f"{name}_command", metavar="ACTION", required=True)


def leaf(parent, name: str, handler: Handler, *, help: str,  # noqa: A002
         description: str | None = None, json: bool = True,
         creates_store: bool = False) -> argparse.ArgumentParser:
    """A command that runs: `handler(args)` answers it, reading only what this parser declares.
    creates_store: the command adds to the store and creates a missing one (else refused)."""
    p = parent.add_parser(name, help=help, description=description or help)
    p.set_defaults(handler=handler, creates_store=creates_store)
    if json:
        p.add_argument("--json", action="store_true", help="print one JSON object")
    return p


def emit(args: argparse.Namespace, payload: dict[str, Any], human: Callable[[], None]) -> None:
    """One JSON object with --json, else the human-readable lines."""
    if getattr(args, "json", False):  # leaves declared with json=False have no --json
        print(json.dumps(payload, default=str))
    else:
        human()


def settings_for(args: argparse.Namespace):
    from ftui.config import load_settings

    return load_settings(args.db)


def store_for(args: argparse.Namespace):
    """The store --db names. Commands that add to the store create it when it is missing (and
    say so); every other command refuses a missing store, so a mistyped --db does not leave an
    empty store and folders behind."""
    from ftui.store.db import open_store, sqlite_path

    url = settings_for(args).database_url
    if _in_memory(url):
        from ftui.errors import FtuiError

        raise FtuiError(f"the store {url!r} is an in-memory SQLite database: everything this "
                        "command writes would be gone when it ends",
                        "give a file: --db PATH (or sqlite:////absolute/path/ftui.db), or "
                        "leave --db and FTUI_DATABASE_URL unset for $FTUI_HOME/ftui.db")
    create = bool(getattr(args, "creates_store", False))
    path = sqlite_path(url)
    new = create and path is not None and not path.exists()
    store = open_store(url, create=create)
    if new:
        print(f"ftui: created a new store at {path}", file=sys.stderr)
    return store


def _in_memory(url: str) -> bool:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return False  # refused, with its own message, when opened
    database = parsed.database or ""
    return parsed.get_backend_name() == "sqlite" and (
        database in ("", ":memory:") or "mode=memory" in str(parsed))


def progress_line(text: str) -> None:
    """A progress line on stderr, so stdout stays the command's answer."""
    print(text, file=sys.stderr, flush=True)
