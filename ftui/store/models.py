"""The tables of the store. Other areas (datasets, runs, models, experiments) add theirs here.

Conversations are kept as canonical JSON text (`messages_json`), serialized once at ingest and
hashed from the same bytes, so the hot import path never serializes twice.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, Index, Text, text
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
        # Browsing order is newest first; (created_at, id) is the keyset for paging. Filter
        # columns lead composite indexes that end in the same keyset, so a filtered page comes
        # out of the index already in order (a plain index on rating would make SQLite sort
        # every unrated row to show fifty). Model, source and tags have no index: every index
        # slows bulk import, and the screen filters on them in a worker thread.
        Index("ix_interaction_created_id", "created_at", "id"),
        Index("ix_interaction_rating_created", "rating", "created_at", "id"),
        Index("ix_interaction_status_created", "status", "created_at", "id"),
        Index("ix_interaction_mode_created", "reasoning_mode", "created_at", "id"),
        # Monitoring's returning users: "seen before this period?" is one probe per active user
        # (without it every earlier row is read to answer).
        Index("ix_interaction_user_created", "user_id", "created_at"),
        # Most rows carry no uid: a partial index keeps them out of it (cheaper bulk import).
        Index("uq_interaction_uid", "uid", unique=True,
              sqlite_where=text("uid IS NOT NULL"), postgresql_where=text("uid IS NOT NULL")),
    )

    id: int | None = Field(default=None, primary_key=True)
    uid: str | None = None  # the caller's id, when it gave one (unique among those given)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime, nullable=False))
    source: str = "import"
    user_id: str | None = None
    session_id: str | None = None
    reasoning_mode: str = "standard"
    model: str | None = None
    messages_json: str = Field(sa_column=Column(Text, nullable=False))
    tools_json: str | None = Field(default=None, sa_column=Column(Text))
    context_json: str | None = Field(default=None, sa_column=Column(Text))
    preview: str = ""
    latency_ms: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    rating: int | None = None
    status: str = "new"
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


class Dataset(SQLModel, table=True):
    """A frozen dataset version: never edited after it is built."""

    __tablename__ = "dataset"
    __table_args__ = (Index("uq_dataset_name_hash", "name", "content_hash", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime, nullable=False))
    content_hash: str
    spec_json: str = Field(sa_column=Column(Text, nullable=False))
    report_json: str = Field(sa_column=Column(Text, nullable=False))  # counts, removed, stats
    tokenizer: str = "approx"
    examples: int = 0

    @property
    def spec(self) -> dict[str, Any]:
        return json.loads(self.spec_json)

    @property
    def report(self) -> dict[str, Any]:
        return json.loads(self.report_json)


class DatasetExample(SQLModel, table=True):
    __tablename__ = "dataset_example"
    __table_args__ = (Index("ix_example_dataset_split", "dataset_id", "split", "position"),)

    id: int | None = Field(default=None, primary_key=True)
    dataset_id: int = Field(foreign_key="dataset.id", ondelete="CASCADE")
    split: str  # train / validation / test
    position: int  # order inside the split
    interaction_id: int | None = Field(default=None, foreign_key="interaction.id",
                                       ondelete="SET NULL")
    reasoning_mode: str
    rating: int | None = None
    tokens: int = 0
    example_key: str  # hash of the final conversation, to compare versions
    messages_json: str = Field(sa_column=Column(Text, nullable=False))
    tools_json: str | None = Field(default=None, sa_column=Column(Text))
    redactions: int = 0

    @property
    def messages(self) -> list[dict[str, Any]]:
        return json.loads(self.messages_json)


class DatasetPreference(SQLModel, table=True):
    """What a preference or unpaired example has beyond its conversation: the example's
    messages are the prompt and the chosen (or the labelled) reply; this row holds the rejected
    reply of a pair, or the label of an unpaired reply, and where the preference came from.
    A table of its own (not new columns): stores made before it simply gain it."""

    __tablename__ = "dataset_preference"
    __table_args__ = (Index("ix_preference_dataset_split", "dataset_id", "split", "position"),)

    id: int | None = Field(default=None, primary_key=True)
    dataset_id: int = Field(foreign_key="dataset.id", ondelete="CASCADE")
    split: str
    position: int  # the example's position in its split
    source: str  # correction / rating / arena (unpaired: also rating / status)
    rejected_json: str | None = Field(default=None, sa_column=Column(Text))  # a message
    label: bool | None = None  # unpaired: desirable or not


class TrainingRun(SQLModel, table=True):
    """One fine-tuning run. The worker writes status, progress and heartbeat; the UI reads them."""

    __tablename__ = "training_run"

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime, nullable=False))
    started_at: datetime | None = Field(default=None, sa_column=Column(DateTime))
    finished_at: datetime | None = Field(default=None, sa_column=Column(DateTime))
    heartbeat_at: datetime | None = Field(default=None, sa_column=Column(DateTime))
    status: str = Field(default="queued", index=True)
    base_model: str
    dataset_id: int = Field(foreign_key="dataset.id")
    config_json: str = Field(sa_column=Column(Text, nullable=False))
    step: int = 0
    total_steps: int = 0
    epoch: float = 0.0
    train_tokens: int = 0
    best_eval_loss: float | None = None
    error: str | None = Field(default=None, sa_column=Column(Text))
    output_dir: str | None = None
    adapter_dir: str | None = None
    worker: str | None = None  # host:pid of the process running it
    cancel_requested: bool = False
    pause_requested: bool = False
    summary_json: str | None = Field(default=None, sa_column=Column(Text))

    @property
    def config(self) -> dict[str, Any]:
        return json.loads(self.config_json)

    @property
    def summary(self) -> dict[str, Any]:
        return json.loads(self.summary_json) if self.summary_json else {}


class RunMetric(SQLModel, table=True):
    __tablename__ = "run_metric"
    __table_args__ = (Index("ix_metric_run_name_step", "run_id", "name", "step"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="training_run.id", ondelete="CASCADE")
    step: int
    name: str
    value: float
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime, nullable=False))


class RunEvent(SQLModel, table=True):
    """The run's log lines, for the log tail in the run view and `ftui runs logs`."""

    __tablename__ = "run_event"
    __table_args__ = (Index("ix_event_run", "run_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="training_run.id", ondelete="CASCADE")
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime, nullable=False))
    level: str = "info"
    message: str = Field(sa_column=Column(Text, nullable=False))


class RegisteredModel(SQLModel, table=True):
    """A model the operator can serve: a trained adapter, a merged model, an Ollama model, a
    transformers folder or a GGUF file, with its lineage and its stage in a slot."""

    __tablename__ = "registered_model"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    kind: str  # adapter / merged / ollama / hf / gguf
    base_model: str | None = None
    path: str | None = None
    ollama_name: str | None = None
    run_id: int | None = Field(default=None, foreign_key="training_run.id", ondelete="SET NULL")
    dataset_id: int | None = Field(default=None, foreign_key="dataset.id", ondelete="SET NULL")
    dataset_hash: str | None = None
    stage: str = Field(default="candidate", index=True)
    slot: str = "general"
    params_json: str | None = Field(default=None, sa_column=Column(Text))
    metrics_json: str | None = Field(default=None, sa_column=Column(Text))
    notes: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime, nullable=False))

    @property
    def metrics(self) -> dict[str, Any]:
        return json.loads(self.metrics_json) if self.metrics_json else {}

    @property
    def params(self) -> dict[str, Any]:
        return json.loads(self.params_json) if self.params_json else {}


class ModelEvent(SQLModel, table=True):
    """The history of a model's stages: what changed, when, and the operator's note why."""

    __tablename__ = "model_event"

    id: int | None = Field(default=None, primary_key=True)
    model_id: int = Field(foreign_key="registered_model.id", ondelete="CASCADE", index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime, nullable=False))
    action: str
    from_stage: str | None = None
    to_stage: str | None = None
    slot: str | None = None
    note: str | None = Field(default=None, sa_column=Column(Text))


class Experiment(SQLModel, table=True):
    """An A/B test: requests for `alias` go to model A or B by a sticky, salted hash of the unit
    (user, else session). `split_b` is B's share of the traffic."""

    __tablename__ = "experiment"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    alias: str = Field(index=True)  # the model name the chat app asks for, e.g. "assistant"
    model_a: str  # registry id/name or an Ollama model name
    model_b: str
    split_b: float = 0.5
    slot: str | None = None  # mode/domain scope (None: every request for the alias)
    salt: str
    status: str = Field(default="draft", index=True)  # draft / running / stopped
    primary_metric: str = "rating"  # rating / win_rate / latency
    min_samples: int = 100  # rated interactions per arm before a verdict
    mde: float = 0.3  # minimum detectable effect (stars) for the power figure
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime, nullable=False))
    started_at: datetime | None = Field(default=None, sa_column=Column(DateTime))
    stopped_at: datetime | None = Field(default=None, sa_column=Column(DateTime))
    notes: str | None = Field(default=None, sa_column=Column(Text))


class Assignment(SQLModel, table=True):
    """A unit's arm, fixed at its first request: later split changes do not move it."""

    __tablename__ = "assignment"
    __table_args__ = (Index("uq_assignment_unit", "experiment_id", "unit", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    experiment_id: int = Field(foreign_key="experiment.id", ondelete="CASCADE")
    unit: str
    arm: str  # A / B
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime, nullable=False))


class Outcome(SQLModel, table=True):
    """One served request of an experiment: latency, tokens, and the user's rating when given."""

    __tablename__ = "outcome"
    __table_args__ = (Index("ix_outcome_experiment_arm", "experiment_id", "arm"),)

    id: int | None = Field(default=None, primary_key=True)
    experiment_id: int = Field(foreign_key="experiment.id", ondelete="CASCADE")
    unit: str
    arm: str
    interaction_uid: str | None = Field(default=None, index=True)
    rating: int | None = None
    latency_ms: float | None = None
    tokens: int | None = None
    fell_back: bool = False
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime, nullable=False))


class ArenaVote(SQLModel, table=True):
    """A blind side-by-side vote: which model was on the left, and which answer won."""

    __tablename__ = "arena_vote"

    id: int | None = Field(default=None, primary_key=True)
    experiment_id: int | None = Field(default=None, foreign_key="experiment.id",
                                      ondelete="SET NULL", index=True)
    model_a: str
    model_b: str
    left: str  # which arm was shown on the left: A / B
    winner: str  # A / B / tie / both_bad
    prompt_json: str = Field(sa_column=Column(Text, nullable=False))
    answer_a: str = Field(sa_column=Column(Text, nullable=False))
    answer_b: str = Field(sa_column=Column(Text, nullable=False))
    rating_a: int | None = None
    rating_b: int | None = None
    # who voted: "human", or "judge:<model>" for the pairwise judge (issue 13); the verdicts
    # and the ranking count people only unless judge votes are asked for
    voter: str = Field(default="human", sa_column_kwargs={"server_default": "human"})
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime, nullable=False))


class Judgement(SQLModel, table=True):
    """A judge model's scores for one interaction under one rubric (issue 13). `cache_key`
    covers the judge's digest, its generation options, the rubric version and the content
    judged: the same key is never judged twice. A failed judgement keeps its error and no score.
    `current` marks the judgement shown for the interaction (the latest run's)."""

    __tablename__ = "judgement"
    __table_args__ = (Index("ix_judgement_interaction", "interaction_id", "current"),)

    id: int | None = Field(default=None, primary_key=True)
    interaction_id: int = Field(foreign_key="interaction.id", ondelete="CASCADE")
    cache_key: str = Field(unique=True)
    judge: str  # the name asked for (an Ollama name or a registered model)
    judge_digest: str
    rubric: str
    rubric_version: int
    options_json: str = Field(sa_column=Column(Text, nullable=False))
    content_hash: str
    status: str = "ok"  # ok / failed
    score: int | None = None  # overall, 1-5 (what a human rating is compared with)
    scores_json: str | None = Field(default=None, sa_column=Column(Text))  # criterion -> {...}
    rationale: str | None = Field(default=None, sa_column=Column(Text))
    error: str | None = Field(default=None, sa_column=Column(Text))
    raw: str | None = Field(default=None, sa_column=Column(Text))  # the reply (cut), for review
    latency_ms: float | None = None
    current: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime, nullable=False))

    @property
    def scores(self) -> dict[str, Any]:
        return json.loads(self.scores_json) if self.scores_json else {}


class AutopilotCycle(SQLModel, table=True):
    """One autopilot cycle (issue 14): trigger -> dataset -> train -> gate -> deploy ->
    experiment -> decision. `stage` is the next step to take; `outcome` says how it ended
    (promoted, rolled_back, gate_failed, no_new_data, failed, cancelled)."""

    __tablename__ = "autopilot_cycle"

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime, nullable=False))
    finished_at: datetime | None = Field(default=None, sa_column=Column(DateTime))
    status: str = Field(default="running", index=True)  # running / finished / failed
    stage: str = "dataset"
    outcome: str | None = None
    reason: str | None = Field(default=None, sa_column=Column(Text))  # why it started / ended
    error: str | None = Field(default=None, sa_column=Column(Text))
    policy_json: str = Field(sa_column=Column(Text, nullable=False))  # the policy it ran under
    dataset_id: int | None = None
    run_id: int | None = None
    model_id: int | None = None
    ollama_name: str | None = None
    experiment_id: int | None = None
    notified: bool = False  # the TUI raised its notification for the end


class AutopilotStep(SQLModel, table=True):
    """One step of a cycle, with its figures (a gate result, a report) as JSON."""

    __tablename__ = "autopilot_step"
    __table_args__ = (Index("ix_autopilot_step_cycle", "cycle_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    cycle_id: int = Field(foreign_key="autopilot_cycle.id", ondelete="CASCADE")
    name: str  # trigger / dataset / train / gate / deploy / experiment / decision
    status: str = "running"  # running / done / failed / waiting
    summary: str = Field(default="", sa_column=Column(Text, nullable=False))
    detail_json: str | None = Field(default=None, sa_column=Column(Text))
    started_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime, nullable=False))
    finished_at: datetime | None = Field(default=None, sa_column=Column(DateTime))

    @property
    def detail(self) -> dict[str, Any]:
        return json.loads(self.detail_json) if self.detail_json else {}


class AutopilotLock(SQLModel, table=True):
    """One row per store: who runs the autopilot (holder, heartbeat; a holder that stopped
    beating is stale and may be replaced) and the kill switch (paused)."""

    __tablename__ = "autopilot_lock"

    name: str = Field(primary_key=True)  # "autopilot"
    holder: str | None = None  # host:pid:token
    heartbeat_at: datetime | None = Field(default=None, sa_column=Column(DateTime))
    paused: bool = False
    paused_at: datetime | None = Field(default=None, sa_column=Column(DateTime))
    pause_note: str | None = Field(default=None, sa_column=Column(Text))


class Worker(SQLModel, table=True):
    """A training worker process (`ftui worker`) on some machine sharing the store: what it can
    serve (its GPUs, read through NVML when it starts), the run it trains, and its heartbeat on
    the database's clock (a worker whose heartbeat is older than a minute is gone)."""

    __tablename__ = "worker"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)  # host:pid, as in training_run.worker
    host: str
    pid: int
    status: str = "idle"  # idle / training / stopped
    started_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime, nullable=False))
    heartbeat_at: datetime | None = Field(default=None, sa_column=Column(DateTime, index=True))
    gpu_count: int = 0
    gpu_kind: str | None = None  # the GPUs' names, e.g. "NVIDIA H100 80GB HBM3" (distinct, joined)
    gpu_memory_mb: int | None = None  # per GPU (the smallest)
    current_run_id: int | None = Field(default=None, foreign_key="training_run.id",
                                       ondelete="SET NULL")
    runs_dir: str | None = None  # where it keeps run files ($FTUI_HOME/runs on its machine)


class MonitoringRollup(SQLModel, table=True):
    """The finished Monitoring figures (ftui.monitoring) of one closed period, for one period
    kind and grouping: every group's Row as JSON, and the digest of the change marks they were
    computed under (a different digest today: the past changed, compute again)."""

    __tablename__ = "monitoring_rollup"

    period_kind: str = Field(primary_key=True)  # day / week
    grouping: str = Field(primary_key=True)  # model / mode / all
    period_start: date = Field(primary_key=True)  # the day, or the Monday of the week
    rows_json: str = Field(sa_column=Column(Text, nullable=False))
    marks_digest: str
    computed_at: datetime = Field(sa_column=Column(DateTime, nullable=False))


class MonitoringMark(SQLModel, table=True):
    """A day whose interactions changed after the fact (rating, review, tags, an import with old
    times...), written by database triggers on `interaction` (migration 0005): every writer is
    caught, other processes and the gateway included. `onward`: the change can move a user's
    first visit, so every later period's returning users too. `token` changes on every mark."""

    __tablename__ = "monitoring_mark"

    day: date = Field(primary_key=True)
    onward: bool = Field(primary_key=True)
    token: int = Field(sa_column=Column(BigInteger, nullable=False))


class MonitoringBulkWrite(SQLModel, table=True):
    """SQLite only: a row here, inside the importer's own transaction (never committed), tells
    the per-row mark trigger to stand aside while the importer marks each batch's days in one
    statement (ftui.monitoring.sqlite_bulk_insert): a row trigger per imported row cost more
    than the insert itself."""

    __tablename__ = "monitoring_bulk"

    holder: str = Field(primary_key=True)
