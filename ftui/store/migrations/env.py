"""Alembic's environment for ftui's store: runs on the connection ftui hands over (already in a
transaction that holds the migration lock), or, for a developer's `alembic` command, on the
URL given with `-x db=URL` (else FTUI_DATABASE_URL)."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine
from sqlmodel import SQLModel

import ftui.store.models  # noqa: F401 - the tables, for autogenerate's comparison

config = context.config
target = SQLModel.metadata


def _render_item(kind, obj, _context):
    """SQLModel's AutoString is a plain VARCHAR: written as sa.String() the revision needs no
    sqlmodel import (and stays valid if that type moves)."""
    from sqlmodel.sql.sqltypes import AutoString

    if kind == "type" and isinstance(obj, AutoString):
        return "sa.String()"
    return False


def _run(connection) -> None:
    # render_as_batch: autogenerate writes batch operations, which SQLite needs to change or drop
    # a column (it copies the table) and PostgreSQL runs as plain ALTER TABLE.
    context.configure(connection=connection, target_metadata=target, render_as_batch=True,
                      render_item=_render_item)
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = context.get_x_argument(as_dictionary=True).get("db") or os.environ.get(
        "FTUI_DATABASE_URL")
    if not url:
        raise SystemExit("give the store: alembic -x db=sqlite:///path/ftui.db ...")
    engine = create_engine(url)
    with engine.begin() as conn:
        _run(conn)
    engine.dispose()
