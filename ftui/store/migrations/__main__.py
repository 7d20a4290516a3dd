"""Developer tool: `python -m ftui.store.migrations heads | revision "what changed"`.

`revision` numbers the new file after the current head, sets its down_revision to that head,
and (with --autogenerate, the default) fills it with the difference between the head's schema
(built in a throwaway SQLite file) and the tables in ftui/store/models.py. Read the result:
autogenerate misses some changes (renames, server defaults) and SQLite-specific types.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

from ftui.store import migrations


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ftui.store.migrations")
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("heads", help="print the head revision(s): there must be exactly one")
    rev = sub.add_parser("revision", help="add a revision after the current head")
    rev.add_argument("message", help='what changes, e.g. "worker table"')
    rev.add_argument("--empty", action="store_true", help="no autogenerate: write it by hand")
    args = parser.parse_args(argv)
    if args.action == "heads":
        found = migrations.heads()
        print("\n".join(found))
        return 0 if len(found) == 1 else 1
    return _revision(args.message, autogenerate=not args.empty)


def _revision(message: str, autogenerate: bool) -> int:
    from alembic import command
    from sqlalchemy import create_engine

    head = migrations.head()
    number = int(head.split("_", 1)[0]) + 1
    slug = re.sub(r"[^a-z0-9]+", "_", message.lower()).strip("_")
    rev_id = f"{number:04d}_{slug}"[:32]  # alembic_version.version_num is VARCHAR(32)
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(f"sqlite:///{Path(tmp) / 'head.db'}")
        migrations.upgrade(engine)
        with engine.begin() as conn:
            cfg = migrations.config(conn)
            cfg.set_main_option("file_template", "%%(rev)s")
            script = command.revision(cfg, message=message, autogenerate=autogenerate,
                                      rev_id=rev_id, head=head)
        engine.dispose()
    print(f"wrote {script.path}: check it, then: python -m ftui.store.migrations heads")
    return 0


if __name__ == "__main__":
    sys.exit(main())
