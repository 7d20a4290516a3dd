"""The `ftui` command. Every core action is scriptable; `--json` prints one JSON object.

One module per command group; each defines `register(sub)` and is found by entry.py
(the convention: common.py's `group` and `leaf`)."""

from ftui.cli.entry import build_parser, main

__all__ = ["build_parser", "main"]
