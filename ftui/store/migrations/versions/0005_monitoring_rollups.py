"""monitoring rollups: the figures of closed periods kept in the store, and the triggers that mark
the days whose interactions changed after the fact (issue 15, monitoring helper).

Every write to `interaction` that can change a Monitoring figure of a day at least MARK_AFTER
old (ftui.monitoring: rows newer than that lie in periods that are still computed live) gives
that day's mark a new random token, in the database itself: imports, the gateway, other
processes and hand-written SQL are all caught. PostgreSQL marks once per statement from the
transition tables (a COPY of a million rows pays one small INSERT); SQLite has row triggers
only, and its importer marks each batch in one statement (table monitoring_bulk). The figure
columns are those ftui.monitoring reads; notes and correction change none.

Revision ID: 0005_monitoring_rollups
Revises: 0004_worker_table
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_monitoring_rollups"
down_revision = "0004_worker_table"
branch_labels = None
depends_on = None

# Frozen here (a later change of ftui.monitoring.MARK_AFTER needs a new revision).
FIGURE_COLUMNS = ("created_at", "model", "reasoning_mode", "latency_ms", "completion_tokens",
                  "rating", "status", "tags", "session_id", "user_id", "messages_json")
SQLITE_OLD_ENOUGH = "strftime('%Y-%m-%d %H:%M:%f', 'now', '-6 hours')"
PG_OLD_ENOUGH = "(statement_timestamp() AT TIME ZONE 'UTC') - interval '6 hours'"
UPSERT = "ON CONFLICT (day, onward) DO UPDATE SET token = excluded.token"


def _sqlite_triggers() -> list[str]:
    changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in FIGURE_COLUMNS)
    moved = "OLD.user_id IS NOT NEW.user_id OR OLD.created_at IS NOT NEW.created_at"
    mark = ("INSERT INTO monitoring_mark (day, onward, token) SELECT substr({at}, 1, 10), "
            "{onward}, random() WHERE {at} < " + SQLITE_OLD_ENOUGH + " " + UPSERT + ";")
    return [
        # The importer marks its batches itself (see monitoring_bulk). "Old enough" is tested in
        # the body: SQLite evaluates a WHEN's strftime even when the other operand is false,
        # which cost more than the insert.
        f"""CREATE TRIGGER monitoring_mark_insert AFTER INSERT ON interaction
        WHEN NOT EXISTS (SELECT 1 FROM monitoring_bulk) BEGIN
          {mark.format(at="NEW.created_at", onward="NEW.user_id IS NOT NULL")}
        END""",
        f"""CREATE TRIGGER monitoring_mark_update AFTER UPDATE OF {", ".join(FIGURE_COLUMNS)}
        ON interaction WHEN {changed} BEGIN
          {mark.format(at="OLD.created_at", onward=f"({moved})")}
          {mark.format(at="NEW.created_at", onward=f"({moved})")}
        END""",
        f"""CREATE TRIGGER monitoring_mark_delete AFTER DELETE ON interaction BEGIN
          {mark.format(at="OLD.created_at", onward="OLD.user_id IS NOT NULL")}
        END""",
    ]


def _pg_statements() -> list[str]:
    olds = ", ".join(f"o.{c}" for c in FIGURE_COLUMNS)
    news = ", ".join(f"n.{c}" for c in FIGURE_COLUMNS)
    insert = ("INSERT INTO monitoring_mark (day, onward, token) "
              "SELECT day, onward, floor(random() * 9e15)::bigint FROM ({rows}) d " + UPSERT)
    simple = ("SELECT DISTINCT created_at::date AS day, user_id IS NOT NULL AS onward "
              f"FROM {{table}} WHERE created_at < {PG_OLD_ENOUGH}")
    changed = f"""SELECT o.created_at AS old_at, n.created_at AS new_at,
            (o.user_id IS DISTINCT FROM n.user_id OR o.created_at <> n.created_at) AS onward
          FROM old_rows o JOIN new_rows n ON n.id = o.id
          WHERE ({olds}) IS DISTINCT FROM ({news})"""
    updated = f"""WITH c AS ({changed})
          SELECT old_at::date AS day, onward FROM c WHERE old_at < {PG_OLD_ENOUGH}
          UNION SELECT new_at::date, onward FROM c WHERE new_at < {PG_OLD_ENOUGH}"""
    function = f"""CREATE FUNCTION monitoring_mark_rows() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'INSERT' THEN
        {insert.format(rows=simple.format(table="new_rows"))};
      ELSIF TG_OP = 'DELETE' THEN
        {insert.format(rows=simple.format(table="old_rows"))};
      ELSE
        {insert.format(rows=updated)};
      END IF;
      RETURN NULL;
    END $$"""
    trigger = ("CREATE TRIGGER monitoring_mark_{op} AFTER {OP} ON interaction "
               "REFERENCING {tables} FOR EACH STATEMENT EXECUTE FUNCTION monitoring_mark_rows()")
    return [function,
            trigger.format(op="insert", OP="INSERT", tables="NEW TABLE AS new_rows"),
            trigger.format(op="update", OP="UPDATE",
                           tables="OLD TABLE AS old_rows NEW TABLE AS new_rows"),
            trigger.format(op="delete", OP="DELETE", tables="OLD TABLE AS old_rows")]


def upgrade() -> None:
    op.create_table(
        "monitoring_mark",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("onward", sa.Boolean(), nullable=False),
        sa.Column("token", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("day", "onward"),
    )
    op.create_table(
        "monitoring_rollup",
        sa.Column("period_kind", sa.String(), nullable=False),
        sa.Column("grouping", sa.String(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("rows_json", sa.Text(), nullable=False),
        sa.Column("marks_digest", sa.String(), nullable=False),
        sa.Column("computed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("period_kind", "grouping", "period_start"),
    )
    op.create_table(
        "monitoring_bulk",
        sa.Column("holder", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("holder"),
    )
    with op.batch_alter_table("interaction", schema=None) as batch_op:
        batch_op.create_index("ix_interaction_user_created", ["user_id", "created_at"],
                              unique=False)
    dialect = op.get_bind().dialect.name
    for sql in (_pg_statements() if dialect == "postgresql" else
                _sqlite_triggers() if dialect == "sqlite" else []):
        op.execute(sql)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for name in ("insert", "update", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS monitoring_mark_{name}"
                   + (" ON interaction" if dialect == "postgresql" else ""))
    if dialect == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS monitoring_mark_rows()")
    with op.batch_alter_table("interaction", schema=None) as batch_op:
        batch_op.drop_index("ix_interaction_user_created")
    op.drop_table("monitoring_bulk")
    op.drop_table("monitoring_rollup")
    op.drop_table("monitoring_mark")
