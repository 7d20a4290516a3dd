"""The tables of the store. Other areas (datasets, runs, models, experiments) add theirs here.

Conversations are kept as canonical JSON text (`messages_json`), serialized once at ingest and
hashed from the same bytes, so the hot import path never serializes twice.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, DateTime, Index, Text
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    """Naive UTC: what SQLite stores and sorts as text."""
    return datetime.now(UTC).replace(tzinfo=None)


class StoreMeta(SQLModel, table=True):
    __tablename__ = "store_meta"
    key: str = Field(primary_key=True)
    value: str


class Interaction(SQLModel, table=True):
    __tablename__ = "interaction"
    __table_args__ = (
        # Browsing order is newest first; (created_at, id) is the keyset for paging. Filters on
        # model and source scan instead of keeping an index: every index slows bulk import.
        Index("ix_interaction_created_id", "created_at", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    uid: str | None = Field(default=None, unique=True)  # the caller's id, when it gave one
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime, nullable=False))
    source: str = "import"
    user_id: str | None = None
    session_id: str | None = None
    reasoning_mode: str = Field(default="standard", index=True)
    model: str | None = None
    messages_json: str = Field(sa_column=Column(Text, nullable=False))
    tools_json: str | None = Field(default=None, sa_column=Column(Text))
    context_json: str | None = Field(default=None, sa_column=Column(Text))
    preview: str = ""
    latency_ms: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    rating: int | None = Field(default=None, index=True)
    status: str = Field(default="new", index=True)
    correction: str | None = Field(default=None, sa_column=Column(Text))
    tags: str = ""  # comma-joined, sorted, no spaces: filterable with a portable LIKE
    notes: str | None = Field(default=None, sa_column=Column(Text))
    content_hash: str = Field(unique=True)  # 128-bit prefix of sha256, hex (see ingest.formats)
    experiment_id: int | None = None
    arm: str | None = None

    @property
    def messages(self) -> list[dict[str, Any]]:
        return json.loads(self.messages_json)

    @property
    def tools(self) -> list[Any] | None:
        return json.loads(self.tools_json) if self.tools_json else None

    @property
    def context(self) -> Any:
        return json.loads(self.context_json) if self.context_json else None

    @property
    def tag_list(self) -> list[str]:
        return [t for t in self.tags.split(",") if t]
