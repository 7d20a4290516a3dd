"""The `ftui` command. Every core action is scriptable; `--json` prints one JSON object.

Heavy modules (SQLAlchemy, Textual, torch) are imported inside the handlers so that
`ftui --help` answers at once.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from ftui import REASONING_MODES, __version__

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


# ---------------------------------------------------------------- commands


def cmd_ui(args: argparse.Namespace) -> int:
    from ftui.config import load_settings

    settings = load_settings(args.db)
    store = _open(args)  # fail here, with a clear message, before the screen takes over
    from screens.app import FtuiApp

    FtuiApp(store=store, settings=settings).run()
    return EXIT_OK


def cmd_import(args: argparse.Namespace) -> int:
    from ftui.ingest import import_files

    store = _open(args)
    report = import_files(store, args.files, fmt=args.format, mode=args.mode, source=args.source)

    def human() -> None:
        fmts = ", ".join(f"{k}: {v}" for k, v in report.formats.items())
        print(f"imported {report.imported}, duplicates {report.duplicates}, "
              f"skipped {report.skipped}" + (f"  ({fmts})" if fmts else ""))
        for err in report.errors[:20]:
            print(f"  skipped {err['where']}: {err['reason']}", file=sys.stderr)
        if len(report.errors) > 20:
            print(f"  ... and {len(report.errors) - 20} more (use --json to see all)",
                  file=sys.stderr)

    _emit(args, report.as_dict(), human)
    return EXIT_SKIPPED if report.skipped else EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from ftui.demo import load_demo

    report = load_demo(_open(args))
    _emit(args, report.as_dict(), lambda: print(
        f"demo data: imported {report.imported}, already present {report.duplicates}"))
    return EXIT_OK


def cmd_stats(args: argparse.Namespace) -> int:
    from ftui.store.interactions import stats

    data = stats(_open(args))

    def human() -> None:
        print(f"interactions: {data['total']}  (with correction: {data['with_correction']})")
        for group in ("status", "rating", "mode", "model", "source"):
            counts = data[f"by_{group}"]
            line = ", ".join(f"{k} {v}" for k, v in counts.items()) or "-"
            print(f"  {group:<7} {line}")

    _emit(args, data, human)
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    from ftui.ingest.export import export_interactions

    n = export_interactions(_open(args), args.out)
    _emit(args, {"exported": n, "path": str(args.out)},
          lambda: print(f"exported {n} interactions to {args.out}"))
    return EXIT_OK


# ---------------------------------------------------------------- parser


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

    def add(name: str, func: Callable, help_text: str, json_flag: bool = True):
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(func=func)
        if json_flag:
            p.add_argument("--json", action="store_true", help="print one JSON object")
        return p

    add("ui", cmd_ui, "open the terminal UI (the default)", json_flag=False)
    p = add("import", cmd_import, "import interaction files (JSONL or JSON arrays)")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--format", default="auto",
                   choices=["auto", "openai", "sharegpt", "alpaca", "ftui"],
                   help="record shape (default: detected per file)")
    p.add_argument("--mode", choices=REASONING_MODES,
                   help="reasoning mode for records that do not carry one (default: standard)")
    p.add_argument("--source", help="source label for records that do not carry one "
                   "(default: import:<file name>)")
    add("demo", cmd_demo, "load the sample interactions shipped with ftui")
    add("stats", cmd_stats, "counts by status, rating, mode, model and source")
    p = add("export", cmd_export, "write every interaction to a JSONL file in ftui's format")
    p.add_argument("out", metavar="FILE")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command is None:
        args.func = cmd_ui
    from ftui.errors import FtuiError

    try:
        return args.func(args)
    except FtuiError as err:
        print(f"ftui: {err}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
