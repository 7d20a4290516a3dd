"""autopilot_cycle, autopilot_step, autopilot_lock (issue 14, autopilot helper).

Revision ID: 0003_autopilot_tables
Revises: 0002_arena_vote_voter
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ftui.store.migrations.tolerant import has_table

revision = "0003_autopilot_tables"
down_revision = "0002_arena_vote_voter"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if not has_table("autopilot_cycle"):
        op.create_table(
            "autopilot_cycle",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("created_at", sa.DateTime(), nullable=False),
            sa.Column("updated_at", sa.DateTime(), nullable=False),
            sa.Column("finished_at", sa.DateTime(), nullable=True),
            sa.Column("status", sa.String(), nullable=False),
            sa.Column("stage", sa.String(), nullable=False),
            sa.Column("outcome", sa.String(), nullable=True),
            sa.Column("reason", sa.Text(), nullable=True),
            sa.Column("error", sa.Text(), nullable=True),
            sa.Column("policy_json", sa.Text(), nullable=False),
            sa.Column("dataset_id", sa.Integer(), nullable=True),
            sa.Column("run_id", sa.Integer(), nullable=True),
            sa.Column("model_id", sa.Integer(), nullable=True),
            sa.Column("ollama_name", sa.String(), nullable=True),
            sa.Column("experiment_id", sa.Integer(), nullable=True),
            sa.Column("notified", sa.Boolean(), nullable=False),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index(op.f("ix_autopilot_cycle_status"), "autopilot_cycle", ["status"])
    if not has_table("autopilot_lock"):
        op.create_table(
            "autopilot_lock",
            sa.Column("name", sa.String(), nullable=False),
            sa.Column("holder", sa.String(), nullable=True),
            sa.Column("heartbeat_at", sa.DateTime(), nullable=True),
            sa.Column("paused", sa.Boolean(), nullable=False),
            sa.Column("paused_at", sa.DateTime(), nullable=True),
            sa.Column("pause_note", sa.Text(), nullable=True),
            sa.PrimaryKeyConstraint("name"),
        )
    if not has_table("autopilot_step"):
        op.create_table(
            "autopilot_step",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("cycle_id", sa.Integer(), nullable=False),
            sa.Column("name", sa.String(), nullable=False),
            sa.Column("status", sa.String(), nullable=False),
            sa.Column("summary", sa.Text(), nullable=False),
            sa.Column("detail_json", sa.Text(), nullable=True),
            sa.Column("started_at", sa.DateTime(), nullable=False),
            sa.Column("finished_at", sa.DateTime(), nullable=True),
            sa.ForeignKeyConstraint(["cycle_id"], ["autopilot_cycle.id"], ondelete="CASCADE"),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index("ix_autopilot_step_cycle", "autopilot_step", ["cycle_id", "id"])


def downgrade() -> None:
    op.drop_table("autopilot_step")
    op.drop_table("autopilot_lock")
    op.drop_table("autopilot_cycle")
