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
