"""The store's schema migrations (Alembic), run from code: no alembic.ini at runtime.

`versions/` holds one file per revision, chained by `down_revision`; `env.py` runs them on the
connection handed over in the Config's attributes. Migrating happens under a lock so that two
processes opening an old store at once (two workers, torchrun's ranks) never both migrate:
SQLite's write lock (BEGIN IMMEDIATE, which waits for the other writer) and PostgreSQL's
transaction-level advisory lock. Every revision of a run is applied in that one transaction.

Knowing the head is cheap (the revision files are read, alembic is not imported), so opening a
store that is up to date costs one query.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

HERE = Path(__file__).resolve().parent
VERSIONS = HERE / "versions"
BASELINE = "0001_baseline"
VERSION_TABLE = "alembic_version"
# Any fixed 64-bit number: it names ftui's migration lock among the server's advisory locks.
PG_LOCK_KEY = 0x66747569_6D696772  # "ftuimigr"
MIGRATE_WAIT_S = 600  # a second process waits this long for the first to finish migrating


@functools.cache
def revision_graph() -> dict[str, str | None]:
    """{revision: down_revision} read from the files (no alembic import: opening a store that is
    up to date stays cheap)."""
    graph: dict[str, str | None] = {}
    for path in sorted(VERSIONS.glob("*.py")):
        if path.name.startswith("_"):
            continue
        values = {}
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                name = getattr(node.targets[0], "id", None)
                if name in ("revision", "down_revision"):
                    values[name] = ast.literal_eval(node.value)
            elif isinstance(node, ast.AnnAssign) and getattr(node.target, "id", None) in (
                    "revision", "down_revision") and node.value is not None:
                values[node.target.id] = ast.literal_eval(node.value)
        if "revision" in values:
            graph[values["revision"]] = values.get("down_revision")
    return graph


def heads() -> list[str]:
    """The revisions nothing revises: exactly one, unless two revisions were added at once."""
    graph = revision_graph()
    below = {d for down in graph.values() for d in ((down,) if isinstance(down, str) else
                                                   (down or ()))}
    return sorted(set(graph) - below)


def head() -> str:
    found = heads()
    if len(found) != 1:
        raise RuntimeError(f"ftui's migrations have {len(found)} heads ({', '.join(found)}): "
                           "set the newer revision's down_revision to the other (SCHEMA.md)")
    return found[0]


def current_revision(conn: Connection) -> str | None:
    """The store's revision (None: not managed by Alembic yet, or empty)."""
    if not inspect(conn).has_table(VERSION_TABLE):
        return None
    return conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()


def has_tables(conn: Connection) -> bool:
    return bool(inspect(conn).get_table_names())


def config(conn: Connection | None = None):
    """An Alembic Config pointing at this package, with `conn` for env.py to run on."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.attributes["connection"] = conn
    return cfg


def pending(revision: str | None) -> list[str]:
    """The revisions after `revision` up to the head, oldest first."""
    graph, chain, at = revision_graph(), [], head()
    while at is not None and at != revision:
        chain.append(at)
        at = graph.get(at)
    return list(reversed(chain))


def upgrade(engine: Engine, after=None) -> tuple[str | None, str]:
    """Bring the store to the head under the migration lock. Returns (revision before, after);
    a process that waited for another's migration finds nothing left to do. `after(conn)` runs
    in the same transaction once the revisions are applied."""
    from alembic import command

    with _locked(engine) as conn:
        before = current_revision(conn)
        if before is not None and before not in revision_graph():
            raise UnknownRevision(before)
        target = head()
        if before != target:
            command.upgrade(config(conn), "head")
        if after is not None:
            after(conn)
    return before, target


class _locked:
    """A connection inside a transaction that holds the store's migration lock."""

    def __init__(self, engine: Engine) -> None:
        self.engine, self._own = engine, None

    def __enter__(self) -> Connection:
        engine = self.engine
        if engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
            # pysqlite starts transactions lazily and DEFERRED: it would not take the write lock
            # before reading the version. Here the driver is left alone and the transaction
            # begins with BEGIN IMMEDIATE, which waits (busy timeout) while another process holds
            # the write lock. SQLite's DDL is transactional: a failed migration leaves nothing.
            self._own = engine = create_engine(
                engine.url, poolclass=NullPool,
                connect_args={"timeout": MIGRATE_WAIT_S, "check_same_thread": False})

            @event.listens_for(engine, "connect")
            def _autocommit(dbapi_conn, _record):
                dbapi_conn.isolation_level = None
                dbapi_conn.execute(f"PRAGMA busy_timeout={MIGRATE_WAIT_S * 1000}")
                dbapi_conn.execute("PRAGMA foreign_keys=OFF")  # batch table copies keep rows

            @event.listens_for(engine, "begin")
            def _immediate(conn):
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        self.conn = engine.connect()
        self.tx = self.conn.begin()
        if engine.dialect.name == "postgresql":
            self.conn.execute(text("SET LOCAL lock_timeout = '10min'"))
            self.conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_LOCK_KEY})
        return self.conn

    def __exit__(self, kind, value, tb) -> None:
        try:
            if kind is None:
                self.tx.commit()
            else:
                self.tx.rollback()
        finally:
            self.conn.close()
            if self._own is not None:
                self._own.dispose()


class UnknownRevision(Exception):
    """The store is at a revision these files do not hold: a newer ftui migrated it."""
