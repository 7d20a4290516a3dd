"""The `ftui` command's root: the parser (every module of this package that defines
`register(sub)` adds its commands), and main(), which turns every failure into a cause line and
a `fix:` line with exit code 2.

Heavy modules (SQLAlchemy, Textual, torch) are imported inside the handlers so that
`ftui --help` answers at once.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import pkgutil
import sys
from collections.abc import Sequence

from ftui import __version__
from ftui.cli.common import EXIT_ERROR

# 128 + SIGPIPE, what a shell reports for a Unix tool whose reader went away (`| head -1`)
EXIT_PIPE = 141


def command_modules() -> list:
    """The modules of ftui.cli that declare commands, in `ftui --help` order (ORDER, then name)."""
    import ftui.cli as package

    found = []
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        if callable(getattr(module, "register", None)):
            found.append(module)
    return sorted(found, key=lambda m: (getattr(m, "ORDER", 100), m.__name__))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ftui",
        description="Fine-tuning cockpit for an Ollama chat assistant. "
        "With no command, opens the terminal UI.",
    )
    parser.add_argument("--version", action="version", version=f"ftui {__version__}")
    parser.add_argument("--db", metavar="URL",
                        help="store: a file path or SQLAlchemy URL (default: $FTUI_DATABASE_URL, "
                        "else $FTUI_HOME/ftui.db)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in command_modules():
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command is None:  # no command: the terminal UI
        from ftui.cli.interactions import cmd_ui

        args.handler, args.creates_store = cmd_ui, True
    from ftui.errors import FtuiError

    try:
        code = args.handler(args)
        sys.stdout.flush()  # a closed pipe shows here, not at exit
        return code
    except BrokenPipeError as err:
        if _stdout_gone():
            return _closed_pipe()
        return _fail(_unexpected(err, args))  # a socket (Ollama, a client), not our reader
    except FtuiError as err:
        return _fail(str(err))
    except KeyboardInterrupt:
        return 130
    except Exception as err:  # noqa: BLE001 - the last line of defence: a message, not a traceback
        if os.environ.get("FTUI_DEBUG"):
            raise
        return _fail(_unexpected(err, args))


def _stdout_gone() -> bool:
    """Whether the reader of stdout went away (poll reports an error on a widowed pipe)."""
    import select

    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(ev & (select.POLLERR | select.POLLHUP) for _, ev in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # no poll() (Windows), or no real stdout
        return True


def _closed_pipe() -> int:
    """The reader of our output went away: stop quietly, as Unix tools do. Point stdout at
    /dev/null so that the interpreter's final flush does not complain either."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
    return EXIT_PIPE


def _fail(message: str) -> int:
    with contextlib.suppress(BrokenPipeError):
        print(f"ftui: {message}", file=sys.stderr)
    return EXIT_ERROR


def _unexpected(err: Exception, args: argparse.Namespace) -> str:
    """An exception no handler turned into an FtuiError: name its cause and a fix anyway."""
    import errno

    from sqlalchemy.exc import DatabaseError

    from ftui.config import load_settings
    from ftui.store.db import masked_url, store_failure

    try:
        url = load_settings(args.db).database_url
    except Exception:  # noqa: BLE001 - the message must come out anyway
        url = args.db or "the store"
    if isinstance(err, DatabaseError):
        return str(store_failure(err, url))
    if isinstance(err, OSError) and err.errno == errno.ENOSPC:
        where = f" ({err.filename})" if err.filename else ""
        return f"the disk is full{where}\n  fix: free some disk space, then run the command again"
    if isinstance(err, OSError):
        where = f" {err.filename}" if err.filename else ""
        return (f"cannot use{where}: {err.strerror or err}\n"
                "  fix: check the path, its permissions and free disk space")
    text = str(err).replace(url, masked_url(url))
    return (f"unexpected {type(err).__name__}: {text}\n  fix: this is a bug in ftui; run it again "
            "with FTUI_DEBUG=1 for the traceback, and report it")
