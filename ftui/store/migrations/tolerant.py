"""For the revisions that cover this session's first schema changes (issue 13/14 tables and
columns): stores opened by the code between those commits and Alembic already got them from
create_all, so these revisions add only what is missing. Later revisions need none of this."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


def has_table(name: str) -> bool:
    return sa.inspect(op.get_bind()).has_table(name)


def has_column(table: str, column: str) -> bool:
    return any(c["name"] == column for c in sa.inspect(op.get_bind()).get_columns(table))
