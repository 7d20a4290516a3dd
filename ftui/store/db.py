"""Opening the store: engine, SQLite pragmas, and its schema (Alembic migrations, checked and
applied on open; see ftui/store/migrations)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import delete, event, insert, inspect
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, SQLAlchemyError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import Boolean, DateTime
from sqlmodel import Session, create_engine, select

from ftui.errors import StoreError
from ftui.store.models import StoreMeta

# 2: datasets, 3: training runs, 4: model registry, 5: experiments, 6: the schema is Alembic's
# (ftui/store/migrations); later changes are revisions there, and this number stays.
SCHEMA_VERSION = 6
BUSY_TIMEOUT_S = 30


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets the UI read while a training thread or the gateway writes; the busy timeout
    # makes a writer wait instead of failing with "database is locked".
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA cache_size=-65536")  # up to 64 MiB of pages: bulk imports rewrite less
    cur.close()


def without_nul(value):
    """PostgreSQL text cannot hold NUL (SQLite's can): U+FFFD marks where one was. JSON columns
    never need it (NUL is escaped there as \\u0000), so conversations are stored unchanged."""
    return value.replace("\x00", "\ufffd") if type(value) is str and "\x00" in value else value


def _scrub(params):
    if isinstance(params, dict):
        if any(type(v) is str and "\x00" in v for v in params.values()):
            return {k: without_nul(v) for k, v in params.items()}
        return params
    if isinstance(params, list | tuple):
        return type(params)(_scrub(p) if isinstance(p, dict | list | tuple) else without_nul(p)
                            for p in params)
    return params


def _pg_without_nul(conn, cursor, statement, parameters, context, executemany):
    # One stray NUL in a model name, a preview or a note failed a whole import on PostgreSQL.
    return statement, _scrub(parameters)


class like_any_case(FunctionElement):  # noqa: N801 - used like a SQL function
    """`column LIKE pattern` (backslash escapes) that ignores case on every backend. SQLite's
    LIKE already ignores ASCII case; PostgreSQL's does not (ILIKE does), so the same search
    found less there."""

    type = Boolean()
    inherit_cache = True
    name = "like_any_case"


@compiles(like_any_case)
def _like(element, compiler, **kw):
    column, pattern = list(element.clauses)
    return compiler.process(column.like(pattern, escape="\\"), **kw)


@compiles(like_any_case, "postgresql")
def _ilike(element, compiler, **kw):
    column, pattern = list(element.clauses)
    return compiler.process(column.ilike(pattern, escape="\\"), **kw)


class db_now(FunctionElement):  # noqa: N801 - used like a SQL function
    """The database server's clock in naive UTC (like utcnow()), `offset_s` seconds away. Every
    machine that shares a store stamps heartbeats with it and judges staleness by it, so a
    worker whose own clock is off is not taken for dead (or alive)."""

    type = DateTime()
    inherit_cache = True
    name = "db_now"
    _traverse_internals = [("offset_s", InternalTraversal.dp_plain_obj)]  # part of the cache key

    def __init__(self, offset_s: int = 0) -> None:
        self.offset_s = int(offset_s)
        super().__init__()


@compiles(db_now)
def _now_sqlite(element, compiler, **kw):
    # SQLite's 'now' is UTC; the format matches how SQLAlchemy stores datetimes (to the ms)
    return f"strftime('%Y-%m-%d %H:%M:%f', 'now', '{element.offset_s:+d} seconds')"


@compiles(db_now, "postgresql")
def _now_pg(element, compiler, **kw):
    return f"(timezone('utc', clock_timestamp()) + interval '{element.offset_s:d} seconds')"


class Store:
    """The hub: every piece of state lives here. Thread-safe to share; sessions are not."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def session(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    def close(self) -> None:
        self.engine.dispose()


def masked_url(url: str) -> str:
    """`url` fit for a message: the password, if any, shown as ***."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:  # not parseable: mask whatever sits between user: and @
        return re.sub(r"(://[^:/@\s]*):[^@\s]*@", r"\1:***@", url)


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite store (None for other databases and in-memory SQLite)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    if parsed.database.startswith("file:"):  # a URI filename: leave it to SQLite
        return None
    return Path(parsed.database)


def open_store(url: str, create: bool = True, upgrade: bool | None = None,
               check: bool = True) -> Store:
    """Open the store at `url`, check its schema and bring it up to date (migrations under a
    lock; `upgrade=False`, or FTUI_DB_AUTO_UPGRADE=0, refuses a store that is behind instead).
    A SQLite file that does not exist is created, folders included, only with `create`
    (otherwise: StoreError). `check=False` leaves the schema alone (`ftui db ...`)."""
    shown = masked_url(url)
    try:
        parsed = make_url(url)
    except ArgumentError as err:
        raise StoreError(
            f"not a database URL: {shown!r}",
            "pass a file path or a SQLAlchemy URL such as sqlite:///path/to/ftui.db",
        ) from err
    if parsed.drivername.split("+")[0] == "postgres":  # Heroku's spelling; SQLAlchemy's differs
        raise StoreError(f"the database URL {shown} starts with postgres://, which SQLAlchemy "
                         "does not know", "write postgresql:// instead (e.g. "
                         "postgresql://user@host/ftui)")
    connect_args: dict = {}
    if parsed.get_backend_name() == "sqlite":
        db_path = parsed.database
        if not create and (path := sqlite_path(url)) is not None and not path.exists():
            raise StoreError(
                f"no store at {path}",
                "check --db (or FTUI_HOME / FTUI_DATABASE_URL); `ftui import FILE` or "
                "`ftui demo` creates a store",
            )
        if db_path and db_path != ":memory:":
            try:
                Path(db_path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise StoreError(
                    f"cannot create the folder for the store {db_path}: {err.strerror}",
                    "set FTUI_HOME or --db to a writable location",
                ) from err
        connect_args = {"timeout": BUSY_TIMEOUT_S, "check_same_thread": False}
    try:
        engine = create_engine(parsed, connect_args=connect_args)
    except (SQLAlchemyError, ImportError) as err:
        raise StoreError(
            f"cannot use the database {shown}: {err}",
            "install the driver for that database, or use a sqlite:/// URL",
        ) from err
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    elif engine.dialect.name == "postgresql":
        event.listen(engine, "before_cursor_execute", _pg_without_nul, retval=True)
    if not check:
        return Store(engine)
    try:
        _prepare_schema(engine, upgrade)
    except DatabaseError as err:  # also "file is not a database"
        engine.dispose()
        raise store_failure(err, url) from err
    return Store(engine)


def _password(url: str) -> str | None:
    try:
        return make_url(url).password
    except ArgumentError:
        return None


def store_failure(err: BaseException, url: str) -> StoreError:
    """A database error as a message naming its cause and fix (the password masked)."""
    shown = masked_url(url)
    orig = getattr(err, "orig", None) or err
    text = str(orig).strip().replace(url, shown)
    if secret := _password(url):
        text = text.replace(str(secret), "***")
    lowered = text.lower()
    if "disk is full" in lowered or "no space left" in lowered:
        return StoreError(f"the disk holding the store {shown} is full ({text})",
                          "free some disk space, then run the command again")
    if "not a database" in lowered:
        return StoreError(f"cannot open the store {shown}: {text}",
                          "check that --db names ftui's store (a SQLite file); if it does, the "
                          "file is damaged: restore it from a backup")
    if "malformed" in lowered or "corrupt" in lowered:
        return StoreError(
            f"the store {shown} is damaged ({text})",
            "restore it from a backup, or salvage it with: sqlite3 OLD.db .recover | "
            "sqlite3 NEW.db   (then use --db NEW.db)")
    if not shown.startswith("sqlite"):
        return StoreError(f"cannot open the store {shown}: {text}",
                          "check that the database server runs and that the URL's host, port, "
                          "user, password and database name are right")
    return StoreError(f"cannot open the store {shown}: {text}",
                      "check that the file is a SQLite database and that its folder is writable")


def auto_upgrade_enabled() -> bool:
    """Opening a store brings its schema up to date unless FTUI_DB_AUTO_UPGRADE is 0/false/no
    (operators who upgrade a shared store explicitly, with `ftui db upgrade`)."""
    return os.environ.get("FTUI_DB_AUTO_UPGRADE", "1").strip().lower() not in ("0", "false", "no",
                                                                              "off")


def _newer_store(found: str) -> StoreError:
    from ftui.store import migrations

    return StoreError(
        f"this store was written by a newer ftui (schema {found}; this ftui knows up to "
        f"{SCHEMA_VERSION}, revision {migrations.head()})",
        "upgrade ftui (pip install -U ftui), or open another store with --db",
    )


def _meta_version(conn) -> int | None:
    if not inspect(conn).has_table(StoreMeta.__tablename__):
        return None
    value = conn.execute(select(StoreMeta.value).where(StoreMeta.key == "schema_version")).scalar()
    return int(value) if value is not None else None


def _write_meta(conn) -> None:
    # Kept for ftui versions from before Alembic: they refuse a store whose number is above
    # theirs, which is right, since they would not know the later revisions' tables.
    table = StoreMeta.__table__
    conn.execute(delete(table).where(table.c.key == "schema_version"))
    conn.execute(insert(table).values(key="schema_version", value=str(SCHEMA_VERSION)))


def schema_state(engine: Engine) -> dict:
    """Where the store's schema stands: its revision, the code's head, what is pending."""
    from ftui.store import migrations

    with engine.connect() as conn:
        revision = migrations.current_revision(conn)
        version = _meta_version(conn)
        empty = revision is None and not migrations.has_tables(conn)
    known = revision is None or revision in migrations.revision_graph()
    newer = (version is not None and version > SCHEMA_VERSION) or not known
    return {"revision": revision, "head": migrations.head(), "schema_version": version,
            "empty": empty, "newer": newer,
            "pending": [] if newer else migrations.pending(revision)}


def _prepare_schema(engine: Engine, upgrade: bool | None = None) -> dict:
    """Check the schema; migrate it (under the migration lock) when it is behind the code and
    upgrading is on. Returns what was done: {"from": rev, "to": rev} or {} when nothing was."""
    from ftui.store import migrations

    state = schema_state(engine)
    if state["newer"]:
        engine.dispose()
        raise _newer_store(state["revision"] or str(state["schema_version"]))
    if not state["pending"]:
        return {}
    wanted = auto_upgrade_enabled() if upgrade is None else upgrade
    if not wanted and not state["empty"]:
        engine.dispose()
        was = state["revision"] or "none: made before migrations"
        raise StoreError(
            f"this store's schema is behind this ftui (revision {was}; this ftui is at "
            f"{state['head']})",
            "upgrade it: ftui db upgrade (FTUI_DB_AUTO_UPGRADE=0 turns off upgrading on open)")
    try:
        before, after = migrations.upgrade(engine, after=_write_meta)
    except migrations.UnknownRevision as err:  # a newer ftui migrated while we waited
        engine.dispose()
        raise _newer_store(str(err)) from err
    return {"from": before, "to": after}


def upgrade_store(url: str) -> dict:
    """`ftui db upgrade`: bring an existing store to this ftui's schema. Returns
    {"from", "to", "applied": [revisions]} (applied is empty when it was already current)."""
    store = open_store(url, create=False, upgrade=False, check=False)
    try:
        state = schema_state(store.engine)
        done = _prepare_schema(store.engine, upgrade=True)
    except DatabaseError as err:
        raise store_failure(err, url) from err
    finally:
        store.close()
    return {"from": state["revision"], "to": done.get("to", state["revision"]),
            "applied": state["pending"] if done else []}
