"""What every `ftui` subcommand shares: exit codes, --json output, opening the store."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

EXIT_OK, EXIT_SKIPPED, EXIT_ERROR = 0, 1, 2


def _emit(args: argparse.Namespace, payload: dict[str, Any], human: Callable[[], None]) -> None:
    if getattr(args, "json", False):
        print(json.dumps(payload, default=str))
    else:
        human()


# Commands that add to the store create it when it is missing (and say so); every other command
# refuses a missing store, so a mistyped --db does not leave an empty store and folders behind.
CREATING_COMMANDS = {None, "ui", "import", "demo", "train", "proxy", "chat", "register"}


def _creates(args: argparse.Namespace) -> bool:
    leaf = getattr(args, "models_command", None) if args.command == "models" else args.command
    return leaf in CREATING_COMMANDS


def _open(args: argparse.Namespace):
    from ftui.config import load_settings
    from ftui.store.db import open_store, sqlite_path

    url = load_settings(args.db).database_url
    create = _creates(args)
    path = sqlite_path(url)
    new = create and path is not None and not path.exists()
    store = open_store(url, create=create)
    if new:
        print(f"ftui: created a new store at {path}", file=sys.stderr)
    return store


def action_adder(subparsers, func: Callable[[argparse.Namespace], int]):
    """add(name, help) -> a subcommand parser running `func`, with --json."""

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        p = subparsers.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(func=func)
        p.add_argument("--json", action="store_true", help="print one JSON object")
        return p

    return add
