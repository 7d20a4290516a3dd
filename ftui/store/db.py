"""Opening the store: engine, SQLite pragmas, schema creation and the schema-version check."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import event, inspect
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, OperationalError, SQLAlchemyError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import Boolean
from sqlmodel import Session, SQLModel, create_engine, select

from ftui.errors import StoreError
from ftui.store.models import StoreMeta

SCHEMA_VERSION = 5  # 2: datasets, 3: training runs, 4: model registry, 5: experiments
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


def open_store(url: str, create: bool = True) -> Store:
    """Open the store at `url` and check its schema version. A SQLite file that does not exist
    is created, folders included, only with `create` (otherwise: StoreError)."""
    shown = masked_url(url)
    try:
        parsed = make_url(url)
    except ArgumentError as err:
        raise StoreError(
            f"not a database URL: {shown!r}",
            "pass a file path or a SQLAlchemy URL such as sqlite:///path/to/ftui.db",
        ) from err
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
    try:
        _prepare_schema(engine)
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


def _prepare_schema(engine: Engine) -> None:
    found = None
    if inspect(engine).has_table(StoreMeta.__tablename__):
        with Session(engine) as session:
            row = session.exec(select(StoreMeta).where(StoreMeta.key == "schema_version")).first()
            found = int(row.value) if row else None
    if found is not None and found > SCHEMA_VERSION:
        engine.dispose()
        raise StoreError(
            f"this store was written by a newer ftui (schema {found}; this ftui knows up to "
            f"{SCHEMA_VERSION})",
            "upgrade ftui (pip install -U ftui), or open another store with --db",
        )
    try:
        SQLModel.metadata.create_all(engine)
    except OperationalError as err:  # another process (a torchrun rank) created them first
        if "already exists" not in str(err):
            raise
        SQLModel.metadata.create_all(engine)
    if found != SCHEMA_VERSION:
        with Session(engine) as session:
            session.merge(StoreMeta(key="schema_version", value=str(SCHEMA_VERSION)))
            session.commit()
