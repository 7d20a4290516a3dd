"""`ftui ui`, `import`, `demo`, `stats`, `export`: the terminal UI and the interaction store."""

from __future__ import annotations

import argparse
import sys

from ftui import REASONING_MODES
from ftui.cli.common import EXIT_ERROR, EXIT_OK, EXIT_SKIPPED, emit, leaf, settings_for, store_for
from ftui.errors import FtuiError

ORDER = 10


def cmd_ui(args: argparse.Namespace) -> int:
    settings = settings_for(args)
    store = store_for(args)  # fail here, with a clear message, before the screen takes over
    from ftui.screens.app import FtuiApp

    FtuiApp(store=store, settings=settings).run()
    return EXIT_OK


def cmd_import(args: argparse.Namespace) -> int:
    from ftui.ingest import import_files

    _check_some_file_readable(args.files)  # before the store: a typo leaves no empty store
    store = store_for(args)
    report = import_files(store, args.files, fmt=args.format, mode=args.mode, source=args.source)
    warm_s = _warm_monitoring(store, args) if report.imported else None

    def human() -> None:
        fmts = ", ".join(f"{k}: {v}" for k, v in report.formats.items())
        print(f"imported {report.imported}, duplicates {report.duplicates}, "
              f"skipped {report.skipped}" + (f"  ({fmts})" if fmts else ""))
        if warm_s is not None:
            print(f"monitoring figures of the last weeks (F8's first view) kept in {warm_s:.1f} s")
        for err in report.errors[:20]:
            print(f"  skipped {err['where']}: {err['reason']}", file=sys.stderr)
        if report.skipped > 20:
            print(f"  ... and {report.skipped - 20} more (--json lists the first "
                  f"{len(report.errors)})", file=sys.stderr)

    emit(args, {**report.as_dict(), "monitoring_warm_s": warm_s}, human)
    if report.skipped > len(report.failed_files):  # bad records: a fix for all of them
        named = "listed under errors" if args.json else "named above"
        print(f"  fix: correct or remove the records {named} and import the file again "
              "(what was imported stays; duplicates are skipped)", file=sys.stderr)
    if report.skipped and not (report.imported or report.duplicates):
        print(f"ftui: nothing was imported from {len(args.files)} file(s)", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_SKIPPED if report.skipped else EXIT_OK


def _warm_monitoring(store, args: argparse.Namespace) -> float | None:
    """The Monitoring screen's first view (and the one it remembers) computed and kept now, not
    when F8 first opens (an import of old traffic marks its periods for computing again).
    Seconds; None if it failed: the rows are imported either way and F8 computes them itself."""
    from sqlalchemy.exc import SQLAlchemyError

    from ftui import monitoring
    from ftui.uistate import UiState

    try:
        saved = UiState(settings_for(args).home).get("monitoring.view", {}, dict)
        return monitoring.warm_default_view(store, saved)[1]
    except SQLAlchemyError as err:
        print(f"  note: monitoring figures not computed now ({err.__class__.__name__}); "
              "F8 computes them when opened", file=sys.stderr)
        return None


def _check_some_file_readable(files: list[str]) -> None:
    """Refuse, before any store is opened or created, an import of which no file can be read
    (missing, a folder, a pipe); with one readable file the import goes on and reports the rest."""
    from pathlib import Path

    from ftui.errors import ImportFormatError
    from ftui.ingest.reader import check_regular_file

    problems = []
    for name in files:
        try:
            check_regular_file(Path(name))
            return
        except ImportFormatError as err:
            problems.append(err)
    if len(problems) == 1:
        raise problems[0]
    raise FtuiError(f"none of the {len(problems)} files can be read: "
                    + "; ".join(p.message for p in problems),
                    "check the paths (each must be a regular file, not a folder or a pipe)")


def cmd_demo(args: argparse.Namespace) -> int:
    from ftui.demo import load_demo_set

    loaded = load_demo_set(store_for(args))  # what the TUI's D loads too
    emit(args, {**loaded.interactions.as_dict(), "arena_votes_added": loaded.votes},
         lambda: print(loaded.summary()))
    return EXIT_OK


def cmd_stats(args: argparse.Namespace) -> int:
    from ftui.store.interactions import stats

    data = stats(store_for(args))

    def human() -> None:
        print(f"interactions: {data['total']}  (with correction: {data['with_correction']})")
        for group in ("status", "rating", "mode", "model", "source"):
            counts = data[f"by_{group}"]
            line = ", ".join(f"{k} {v}" for k, v in counts.items()) or "-"
            print(f"  {group:<7} {line}")

    emit(args, data, human)
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    from ftui.ingest.export import export_interactions

    n = export_interactions(store_for(args), args.out)
    emit(args, {"exported": n, "path": str(args.out)},
         lambda: print(f"exported {n} interactions to {args.out}"))
    return EXIT_OK


def register(sub) -> None:
    leaf(sub, "ui", cmd_ui, help="open the terminal UI (the default)", json=False,
         creates_store=True)
    p = leaf(sub, "import", cmd_import, creates_store=True,
             help="import interaction files (JSONL, JSON arrays or parquet)",
             description="Import interaction files (JSONL, JSON arrays or parquet; OpenAI chat, "
             "ShareGPT, Alpaca or ftui's own export). Exit 0 if nothing was skipped, 1 if some "
             "records were (counted with their reasons). --json prints {imported, duplicates, "
             "skipped, errors: [{where, reason}], errors_truncated, formats}.")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--format", default="auto",
                   choices=["auto", "openai", "sharegpt", "alpaca", "ftui"],
                   help="record shape (default: detected per file)")
    p.add_argument("--mode", choices=REASONING_MODES,
                   help="reasoning mode for records that do not carry one (default: standard)")
    p.add_argument("--source", help="source label for records that do not carry one "
                   "(default: import:<file name>)")
    leaf(sub, "demo", cmd_demo, help="load the sample interactions shipped with ftui",
         description="Load the sample interactions shipped with ftui, with their preference "
         "signals (rated alternatives, corrections) and arena votes: what the TUI's D key "
         "loads (loading them twice adds nothing).", creates_store=True)
    leaf(sub, "stats", cmd_stats, help="counts by status, rating, mode, model and source")
    p = leaf(sub, "export", cmd_export,
             help="write every interaction to a JSONL file in ftui's format",
             description="Write every interaction to a JSONL file in ftui's own format, which "
             "carries every field: `ftui import` reads it back losslessly.")
    p.add_argument("out", metavar="FILE")
