"""Baseline: the store as ftui wrote it at schema version 5 (before Alembic).

A store made by that code (create_all, store_meta.schema_version 5 or less) has no
alembic_version table. Its tables came and went with create_all, which made missing tables on
every open and never changed existing ones: stores at version 5 made before the judgement or
dataset_preference tables lack them. So this revision creates only the tables that are missing,
which for an old store is a stamp plus what create_all used to do, and for an empty database
is the whole schema. Frozen: never edit it; later changes are later revisions.

Revision ID: 0001_baseline
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_baseline"
down_revision = None
branch_labels = None
depends_on = None

TABLES = [
    "dataset",
    "experiment",
    "interaction",
    "store_meta",
    "arena_vote",
    "assignment",
    "dataset_example",
    "dataset_preference",
    "judgement",
    "outcome",
    "training_run",
    "registered_model",
    "run_event",
    "run_metric",
    "model_event",
]


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "dataset" not in existing:
        op.create_table(
            "dataset",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("name", sa.String(), nullable=False),
            sa.Column("created_at", sa.DateTime(), nullable=False),
            sa.Column("content_hash", sa.String(), nullable=False),
            sa.Column("spec_json", sa.Text(), nullable=False),
            sa.Column("report_json", sa.Text(), nullable=False),
            sa.Column("tokenizer", sa.String(), nullable=False),
            sa.Column("examples", sa.Integer(), nullable=False),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index(op.f("ix_dataset_name"), "dataset", ["name"], unique=False)
        op.create_index("uq_dataset_name_hash", "dataset", ["name", "content_hash"], unique=True)
    if "experiment" not in existing:
        op.create_table(
            "experiment",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("name", sa.String(), nullable=False),
            sa.Column("alias", sa.String(), nullable=False),
            sa.Column("model_a", sa.String(), nullable=False),
            sa.Column("model_b", sa.String(), nullable=False),
            sa.Column("split_b", sa.Float(), nullable=False),
            sa.Column("slot", sa.String(), nullable=True),
            sa.Column("salt", sa.String(), nullable=False),
            sa.Column("status", sa.String(), nullable=False),
            sa.Column("primary_metric", sa.String(), nullable=False),
            sa.Column("min_samples", sa.Integer(), nullable=False),
            sa.Column("mde", sa.Float(), nullable=False),
            sa.Column("created_at", sa.DateTime(), nullable=False),
            sa.Column("started_at", sa.DateTime(), nullable=True),
            sa.Column("stopped_at", sa.DateTime(), nullable=True),
            sa.Column("notes", sa.Text(), nullable=True),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("name"),
        )
        op.create_index(op.f("ix_experiment_alias"), "experiment", ["alias"], unique=False)
        op.create_index(op.f("ix_experiment_status"), "experiment", ["status"], unique=False)
    if "interaction" not in existing:
        op.create_table(
            "interaction",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("uid", sa.String(), nullable=True),
            sa.Column("created_at", sa.DateTime(), nullable=False),
            sa.Column("updated_at", sa.DateTime(), nullable=False),
            sa.Column("source", sa.String(), nullable=False),
            sa.Column("user_id", sa.String(), nullable=True),
            sa.Column("session_id", sa.String(), nullable=True),
            sa.Column("reasoning_mode", sa.String(), nullable=False),
            sa.Column("model", sa.String(), nullable=True),
            sa.Column("messages_json", sa.Text(), nullable=False),
            sa.Column("tools_json", sa.Text(), nullable=True),
            sa.Column("context_json", sa.Text(), nullable=True),
            sa.Column("preview", sa.String(), nullable=False),
            sa.Column("latency_ms", sa.Float(), nullable=True),
            sa.Column("prompt_tokens", sa.Integer(), nullable=True),
            sa.Column("completion_tokens", sa.Integer(), nullable=True),
            sa.Column("rating", sa.Integer(), nullable=True),
            sa.Column("status", sa.String(), nullable=False),
            sa.Column("correction", sa.Text(), nullable=True),
            sa.Column("tags", sa.String(), nullable=False),
            sa.Column("notes", sa.Text(), nullable=True),
            sa.Column("content_hash", sa.String(), nullable=False),
            sa.Column("experiment_id", sa.Integer(), nullable=True),
            sa.Column("arm", sa.String(), nullable=True),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("content_hash"),
        )
        op.create_index(
            "ix_interaction_created_id", "interaction", ["created_at", "id"], unique=False
        )
        op.create_index(
            "ix_interaction_mode_created",
            "interaction",
            ["reasoning_mode", "created_at", "id"],
            unique=False,
        )
        op.create_index(
            "ix_interaction_rating_created",
            "interaction",
            ["rating", "created_at", "id"],
            unique=False,
        )
        op.create_index(
            "ix_interaction_status_created",
            "interaction",
            ["status", "created_at", "id"],
            unique=False,
        )
        op.create_index(
            "uq_interaction_uid",
            "interaction",
            ["uid"],
            unique=True,
            sqlite_where=sa.text("uid IS NOT NULL"),
            postgresql_where=sa.text("uid IS NOT NULL"),
        )
    if "store_meta" not in existing:
        op.create_table(
            "store_meta",
            sa.Column("key", sa.String(), nullable=False),
            sa.Column("value", sa.String(), nullable=False),
            sa.PrimaryKeyConstraint("key"),
        )
    if "arena_vote" not in existing:
        op.create_table(
            "arena_vote",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("experiment_id", sa.Integer(), nullable=True),
            sa.Column("model_a", sa.String(), nullable=False),
            sa.Column("model_b", sa.String(), nullable=False),
            sa.Column("left", sa.String(), nullable=False),
            sa.Column("winner", sa.String(), nullable=False),
            sa.Column("prompt_json", sa.Text(), nullable=False),
            sa.Column("answer_a", sa.Text(), nullable=False),
            sa.Column("answer_b", sa.Text(), nullable=False),
            sa.Column("rating_a", sa.Integer(), nullable=True),
            sa.Column("rating_b", sa.Integer(), nullable=True),
            sa.Column("created_at", sa.DateTime(), nullable=False),
            sa.ForeignKeyConstraint(["experiment_id"], ["experiment.id"], ondelete="SET NULL"),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index(
            op.f("ix_arena_vote_experiment_id"), "arena_vote", ["experiment_id"], unique=False
        )
    if "assignment" not in existing:
        op.create_table(
            "assignment",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("experiment_id", sa.Integer(), nullable=False),
            sa.Column("unit", sa.String(), nullable=False),
            sa.Column("arm", sa.String(), nullable=False),
            sa.Column("created_at", sa.DateTime(), nullable=False),
            sa.ForeignKeyConstraint(["experiment_id"], ["experiment.id"], ondelete="CASCADE"),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index("uq_assignment_unit", "assignment", ["experiment_id", "unit"], unique=True)
    if "dataset_example" not in existing:
        op.create_table(
            "dataset_example",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("dataset_id", sa.Integer(), nullable=False),
            sa.Column("split", sa.String(), nullable=False),
            sa.Column("position", sa.Integer(), nullable=False),
            sa.Column("interaction_id", sa.Integer(), nullable=True),
            sa.Column("reasoning_mode", sa.String(), nullable=False),
            sa.Column("rating", sa.Integer(), nullable=True),
            sa.Column("tokens", sa.Integer(), nullable=False),
            sa.Column("example_key", sa.String(), nullable=False),
            sa.Column("messages_json", sa.Text(), nullable=False),
            sa.Column("tools_json", sa.Text(), nullable=True),
            sa.Column("redactions", sa.Integer(), nullable=False),
            sa.ForeignKeyConstraint(["dataset_id"], ["dataset.id"], ondelete="CASCADE"),
            sa.ForeignKeyConstraint(["interaction_id"], ["interaction.id"], ondelete="SET NULL"),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index(
            "ix_example_dataset_split",
            "dataset_example",
            ["dataset_id", "split", "position"],
            unique=False,
        )
    if "dataset_preference" not in existing:
        op.create_table(
            "dataset_preference",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("dataset_id", sa.Integer(), nullable=False),
            sa.Column("split", sa.String(), nullable=False),
            sa.Column("position", sa.Integer(), nullable=False),
            sa.Column("source", sa.String(), nullable=False),
            sa.Column("rejected_json", sa.Text(), nullable=True),
            sa.Column("label", sa.Boolean(), nullable=True),
            sa.ForeignKeyConstraint(["dataset_id"], ["dataset.id"], ondelete="CASCADE"),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index(
            "ix_preference_dataset_split",
            "dataset_preference",
            ["dataset_id", "split", "position"],
            unique=False,
        )
    if "judgement" not in existing:
        op.create_table(
            "judgement",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("interaction_id", sa.Integer(), nullable=False),
            sa.Column("cache_key", sa.String(), nullable=False),
            sa.Column("judge", sa.String(), nullable=False),
            sa.Column("judge_digest", sa.String(), nullable=False),
            sa.Column("rubric", sa.String(), nullable=False),
            sa.Column("rubric_version", sa.Integer(), nullable=False),
            sa.Column("options_json", sa.Text(), nullable=False),
            sa.Column("content_hash", sa.String(), nullable=False),
            sa.Column("status", sa.String(), nullable=False),
            sa.Column("score", sa.Integer(), nullable=True),
            sa.Column("scores_json", sa.Text(), nullable=True),
            sa.Column("rationale", sa.Text(), nullable=True),
            sa.Column("error", sa.Text(), nullable=True),
            sa.Column("raw", sa.Text(), nullable=True),
            sa.Column("latency_ms", sa.Float(), nullable=True),
            sa.Column("current", sa.Boolean(), nullable=False),
            sa.Column("created_at", sa.DateTime(), nullable=False),
            sa.ForeignKeyConstraint(["interaction_id"], ["interaction.id"], ondelete="CASCADE"),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("cache_key"),
        )
        op.create_index(
            "ix_judgement_interaction", "judgement", ["interaction_id", "current"], unique=False
        )
    if "outcome" not in existing:
        op.create_table(
            "outcome",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("experiment_id", sa.Integer(), nullable=False),
            sa.Column("unit", sa.String(), nullable=False),
            sa.Column("arm", sa.String(), nullable=False),
            sa.Column("interaction_uid", sa.String(), nullable=True),
            sa.Column("rating", sa.Integer(), nullable=True),
            sa.Column("latency_ms", sa.Float(), nullable=True),
            sa.Column("tokens", sa.Integer(), nullable=True),
            sa.Column("fell_back", sa.Boolean(), nullable=False),
            sa.Column("created_at", sa.DateTime(), nullable=False),
            sa.ForeignKeyConstraint(["experiment_id"], ["experiment.id"], ondelete="CASCADE"),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index(
            "ix_outcome_experiment_arm", "outcome", ["experiment_id", "arm"], unique=False
        )
        op.create_index(
            op.f("ix_outcome_interaction_uid"), "outcome", ["interaction_uid"], unique=False
        )
    if "training_run" not in existing:
        op.create_table(
            "training_run",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("created_at", sa.DateTime(), nullable=False),
            sa.Column("started_at", sa.DateTime(), nullable=True),
            sa.Column("finished_at", sa.DateTime(), nullable=True),
            sa.Column("heartbeat_at", sa.DateTime(), nullable=True),
            sa.Column("status", sa.String(), nullable=False),
            sa.Column("base_model", sa.String(), nullable=False),
            sa.Column("dataset_id", sa.Integer(), nullable=False),
            sa.Column("config_json", sa.Text(), nullable=False),
            sa.Column("step", sa.Integer(), nullable=False),
            sa.Column("total_steps", sa.Integer(), nullable=False),
            sa.Column("epoch", sa.Float(), nullable=False),
            sa.Column("train_tokens", sa.Integer(), nullable=False),
            sa.Column("best_eval_loss", sa.Float(), nullable=True),
            sa.Column("error", sa.Text(), nullable=True),
            sa.Column("output_dir", sa.String(), nullable=True),
            sa.Column("adapter_dir", sa.String(), nullable=True),
            sa.Column("worker", sa.String(), nullable=True),
            sa.Column("cancel_requested", sa.Boolean(), nullable=False),
            sa.Column("pause_requested", sa.Boolean(), nullable=False),
            sa.Column("summary_json", sa.Text(), nullable=True),
            sa.ForeignKeyConstraint(
                ["dataset_id"],
                ["dataset.id"],
            ),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index(op.f("ix_training_run_status"), "training_run", ["status"], unique=False)
    if "registered_model" not in existing:
        op.create_table(
            "registered_model",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("name", sa.String(), nullable=False),
            sa.Column("kind", sa.String(), nullable=False),
            sa.Column("base_model", sa.String(), nullable=True),
            sa.Column("path", sa.String(), nullable=True),
            sa.Column("ollama_name", sa.String(), nullable=True),
            sa.Column("run_id", sa.Integer(), nullable=True),
            sa.Column("dataset_id", sa.Integer(), nullable=True),
            sa.Column("dataset_hash", sa.String(), nullable=True),
            sa.Column("stage", sa.String(), nullable=False),
            sa.Column("slot", sa.String(), nullable=False),
            sa.Column("params_json", sa.Text(), nullable=True),
            sa.Column("metrics_json", sa.Text(), nullable=True),
            sa.Column("notes", sa.Text(), nullable=True),
            sa.Column("created_at", sa.DateTime(), nullable=False),
            sa.ForeignKeyConstraint(["dataset_id"], ["dataset.id"], ondelete="SET NULL"),
            sa.ForeignKeyConstraint(["run_id"], ["training_run.id"], ondelete="SET NULL"),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("name"),
        )
        op.create_index(
            op.f("ix_registered_model_stage"), "registered_model", ["stage"], unique=False
        )
    if "run_event" not in existing:
        op.create_table(
            "run_event",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("run_id", sa.Integer(), nullable=False),
            sa.Column("created_at", sa.DateTime(), nullable=False),
            sa.Column("level", sa.String(), nullable=False),
            sa.Column("message", sa.Text(), nullable=False),
            sa.ForeignKeyConstraint(["run_id"], ["training_run.id"], ondelete="CASCADE"),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index("ix_event_run", "run_event", ["run_id", "id"], unique=False)
    if "run_metric" not in existing:
        op.create_table(
            "run_metric",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("run_id", sa.Integer(), nullable=False),
            sa.Column("step", sa.Integer(), nullable=False),
            sa.Column("name", sa.String(), nullable=False),
            sa.Column("value", sa.Float(), nullable=False),
            sa.Column("created_at", sa.DateTime(), nullable=False),
            sa.ForeignKeyConstraint(["run_id"], ["training_run.id"], ondelete="CASCADE"),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index(
            "ix_metric_run_name_step", "run_metric", ["run_id", "name", "step"], unique=False
        )
    if "model_event" not in existing:
        op.create_table(
            "model_event",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("model_id", sa.Integer(), nullable=False),
            sa.Column("created_at", sa.DateTime(), nullable=False),
            sa.Column("action", sa.String(), nullable=False),
            sa.Column("from_stage", sa.String(), nullable=True),
            sa.Column("to_stage", sa.String(), nullable=True),
            sa.Column("slot", sa.String(), nullable=True),
            sa.Column("note", sa.Text(), nullable=True),
            sa.ForeignKeyConstraint(["model_id"], ["registered_model.id"], ondelete="CASCADE"),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index(op.f("ix_model_event_model_id"), "model_event", ["model_id"], unique=False)


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table)
