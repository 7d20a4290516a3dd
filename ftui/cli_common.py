"""What every `ftui` subcommand shares: exit codes, --json output, opening the store."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

EXIT_OK, EXIT_SKIPPED, EXIT_ERROR = 0, 1, 2


def _emit(args: argparse.Namespace, payload: dict[str, Any], human: Callable[[], None]) -> None:
    if getattr(args, "json", False):
        print(json.dumps(payload, default=str))
    else:
        human()


def _open(args: argparse.Namespace):
    from ftui.config import load_settings
    from ftui.store import open_store

    return open_store(load_settings(args.db).database_url)


def action_adder(subparsers, func: Callable[[argparse.Namespace], int]):
    """add(name, help) -> a subcommand parser running `func`, with --json."""

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        p = subparsers.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(func=func)
        p.add_argument("--json", action="store_true", help="print one JSON object")
        return p

    return add
