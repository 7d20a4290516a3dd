"""arena_vote.voter: who voted, "human" or "judge:<model>" (issue 13, judge helper).

Revision ID: 0002_arena_vote_voter
Revises: 0001_baseline
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ftui.store.migrations.tolerant import has_column

revision = "0002_arena_vote_voter"
down_revision = "0001_baseline"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if not has_column("arena_vote", "voter"):
        with op.batch_alter_table("arena_vote") as batch_op:
            batch_op.add_column(
                sa.Column("voter", sa.String(), server_default="human", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("arena_vote") as batch_op:
        batch_op.drop_column("voter")
