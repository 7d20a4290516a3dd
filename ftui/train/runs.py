"""Training runs in the store: create, claim, cancel, pause, resume, stale detection, metrics.

The worker (thread or process) and every viewer talk only through these rows, so a run started
in one terminal can be watched, paused or cancelled from another.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, insert, update
from sqlmodel import col, select

from ftui.curate import get_dataset
from ftui.errors import FtuiError
from ftui.store import RegisteredModel, RunEvent, RunMetric, Store, TrainingRun, db_now, utcnow
from ftui.train.config import RunConfig

ACTIVE = ("running", "paused")
RESUMABLE = ("cancelled", "failed", "interrupted")
STALE_AFTER_S = 60
T = TrainingRun.__table__


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def host_of(worker: str | None) -> str | None:
    """The machine of a `host:pid` worker name."""
    return worker.rsplit(":", 1)[0] if worker else None


@dataclass(frozen=True)
class Capacity:
    """What a worker can serve: its machine's GPUs (from NVML) and where it keeps run files."""

    host: str
    gpu_names: tuple[str, ...] = ()
    gpu_memory_mb: tuple[int, ...] = ()  # per GPU, same order as gpu_names
    runs_dir: Path | None = None

    @property
    def gpu_count(self) -> int:
        return len(self.gpu_names)


def gpu_needs(config: dict[str, Any]) -> str:
    """A run's GPU requirement in words ("" when it has none)."""
    gpus, kind = int(config.get("gpus") or 0), str(config.get("gpu_kind") or "")
    memory = float(config.get("gpu_memory_gb") or 0)
    if not (gpus or kind or memory):
        return ""
    what = " ".join(x for x in (kind, f"{memory:g} GB+" if memory else "") if x)
    count = max(gpus, 1)
    return f"{count} {what + ' ' if what else ''}GPU{'s' if count > 1 else ''}"


def gpu_unmet(config: dict[str, Any], capacity: Capacity) -> str | None:
    """Why `capacity` lacks the GPUs a run's config asks for (None: it has them)."""
    gpus, kind = int(config.get("gpus") or 0), str(config.get("gpu_kind") or "").lower()
    # GB as on the card's box (10^9 bytes): an "80GB" H100 has 81559 MiB, 79.6 GiB
    memory_mb = float(config.get("gpu_memory_gb") or 0) * 1e9 / 2**20
    if not (gpus or kind or memory_mb):
        return None
    fitting = [n for n, m in zip(capacity.gpu_names, capacity.gpu_memory_mb, strict=False)
               if kind in n.lower() and m >= memory_mb]
    if len(fitting) >= max(gpus, 1):
        return None
    have = (f"{capacity.gpu_count} GPU(s): {', '.join(dict.fromkeys(capacity.gpu_names))}"
            if capacity.gpu_count else "no NVIDIA GPU")
    return f"needs {gpu_needs(config)}; {capacity.host} has {have}"


def unmet(run: TrainingRun, capacity: Capacity) -> str | None:
    """Why a worker with `capacity` cannot take `run` (None: it can): too few GPUs of the kind
    and memory the run's config asks for, or the run's checkpoints are not reachable from it
    (it would otherwise start again from step 0)."""
    if why := gpu_unmet(run.config, capacity):
        return why
    if run.step > 0 and run.output_dir:
        here = (capacity.runs_dir / f"run-{run.id}" if capacity.runs_dir
                else Path(run.output_dir))
        if not here.is_dir():
            return files_missing(run, here)
    return None


def files_missing(run: TrainingRun, where: Path | str) -> str:
    held = host_of(run.worker)
    by = f", written by the worker on {held}" if held else ""
    return (f"run {run.id}'s files are not reachable from {socket.gethostname()} ({where} is "
            f"missing{by})")


FILES_FIX = ("do it on the machine that holds them, or share $FTUI_HOME/runs between the "
             "machines (e.g. NFS, mounted at the same path on each)")


def require_files(run: TrainingRun | None, path: str | Path | None, what: str) -> None:
    """Refuse to `what` (evaluate, deploy, resume...) a run's files that are not on this machine,
    naming the machine that wrote them."""
    if path is None or Path(path).exists():
        return
    if run is None:
        raise FtuiError(f"cannot {what}: {path} is missing on {socket.gethostname()}",
                        "check the path, or do it on the machine that holds the files")
    raise FtuiError(f"cannot {what}: {files_missing(run, path)}", FILES_FIX)


def check_base(base: str) -> None:
    """Refuse a base model that cannot be loaded before a run exists for it (a typo would
    leave a failed run behind). Builds nothing: `tiny` and `demo` are built on first use."""
    name = base.strip()
    if not name:
        raise FtuiError("no base model given", "give --base tiny, demo, a folder, a .gguf or an id")
    if name == "tiny":
        return
    from ftui.train.base import demo_gguf_path, resolve_base

    if name == "demo":
        demo_gguf_path()
        return
    where, extra = resolve_base(name, Path("."))  # paths are checked here; nothing is built
    if extra.get("local_files_only") and not _in_hf_cache(where):
        raise FtuiError(
            f"base model {name!r} is not in the local Hugging Face cache (nor is it tiny, demo, "
            "a model folder or a .gguf file), and ftui does not download during a run",
            f"check the name; download it first (huggingface-cli download {name}), or use a "
            "local folder, a .gguf file, demo or tiny")


def _in_hf_cache(repo_id: str) -> bool:
    from huggingface_hub import try_to_load_from_cache
    from huggingface_hub.errors import HFValidationError

    try:
        return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)
    except HFValidationError:
        return False


def create_run(store: Store, dataset_id: int | str, base: str, config: RunConfig) -> TrainingRun:
    config.validate()
    dataset = get_dataset(store, dataset_id)
    from ftui.train.methods import check_method_fits

    check_method_fits(config.method, dataset.spec.get("kind", "sft"), dataset.id)
    check_base(base)
    run = TrainingRun(base_model=base.strip(), dataset_id=dataset.id,
                      config_json=json.dumps(config.as_dict()))
    with store.session() as s:
        s.add(run)
        s.commit()
        s.refresh(run)
    log(store, run.id, f"queued: base {run.base_model}, dataset {dataset.id} ({dataset.name})")
    return run


def get_run(store: Store, run_id: int) -> TrainingRun:
    with store.session() as s:
        run = s.get(TrainingRun, int(run_id))
    if run is None:
        raise FtuiError(f"no run {run_id}", "see the ids with: ftui runs list")
    return run


def list_runs(store: Store, limit: int = 200, check_stale: bool = True,
              include_archived: bool = True) -> list[TrainingRun]:
    if check_stale:
        mark_stale(store)
    stmt = select(TrainingRun)
    if not include_archived:
        stmt = stmt.where(TrainingRun.status != "archived")
    with store.session() as s:
        return list(s.exec(stmt.order_by(col(TrainingRun.id).desc()).limit(limit)))


ARCHIVED_NOTE = "archived; was "


def archive_run(store: Store, run_id: int, archived: bool = True) -> TrainingRun:
    """Hide a finished run from the list (files and metrics stay), or bring it back with the
    status it had; the status it had is kept in the run's log."""
    run = get_run(store, run_id)
    if archived:
        if run.status in (*ACTIVE, "queued", "archived"):
            raise FtuiError(f"run {run.id} is {run.status}; only a finished run is archived",
                            "cancel it first, or wait for it to end")
        update_run(store, run.id, status="archived")
        log(store, run.id, ARCHIVED_NOTE + run.status)
    else:
        if run.status != "archived":
            raise FtuiError(f"run {run.id} is not archived", "nothing to restore")
        notes = [e.message for e in events(store, run.id, limit=500)
                 if e.message.startswith(ARCHIVED_NOTE)]
        before = notes[-1][len(ARCHIVED_NOTE):] if notes else "completed"
        update_run(store, run.id, status=before)
        log(store, run.id, f"restored from the archive ({before})")
    return get_run(store, run.id)


def update_run(store: Store, run_id: int, **values: Any) -> None:
    with store.engine.begin() as conn:
        conn.execute(update(T).where(T.c.id == run_id).values(**values))


def claim_next(store: Store, only: int | None = None, capacity: Capacity | None = None,
               name: str | None = None) -> int | None:
    """Take the oldest queued run (or run `only`) that `capacity` can serve, for this worker.
    A compare-and-set: the update wins only while the run is still queued, so of several
    workers (processes, machines) reaching for the same run exactly one gets it; the others
    go on to the next run."""
    stmt = select(TrainingRun).where(TrainingRun.status == "queued")
    if only is not None:
        stmt = stmt.where(TrainingRun.id == only)
    with store.session() as s:
        queued = list(s.exec(stmt.order_by(col(TrainingRun.id)).limit(100)))
    for run in queued:
        if capacity is not None and unmet(run, capacity):
            continue
        with store.engine.begin() as conn:
            taken = conn.execute(update(T).where(T.c.id == run.id, T.c.status == "queued").values(
                status="running", worker=name or worker_name(), heartbeat_at=db_now(),
                started_at=func.coalesce(T.c.started_at, utcnow()), cancel_requested=False,
                pause_requested=False, error=None))
        if taken.rowcount == 1:
            return run.id
    return None


def mark_stale(store: Store, stale_after_s: int = STALE_AFTER_S) -> int:
    """Runs whose worker stopped beating are `interrupted` (resumable from their checkpoint).
    Judged on the database's clock, which stamped the heartbeats."""
    with store.engine.begin() as conn:
        result = conn.execute(update(T).where(T.c.status.in_(ACTIVE),
                                              T.c.heartbeat_at < db_now(-stale_after_s))
                              .values(status="interrupted",
                                      error="the worker stopped (closed terminal, killed, or "
                                            "crashed) — resume to continue from the last checkpoint"))
    return result.rowcount


def request_cancel(store: Store, run_id: int) -> TrainingRun:
    run = get_run(store, run_id)
    if run.status == "queued":
        update_run(store, run.id, status="cancelled", finished_at=utcnow())
    elif run.status in ACTIVE:
        update_run(store, run.id, cancel_requested=True, pause_requested=False)
    else:
        raise FtuiError(f"run {run.id} is {run.status}; only queued or running runs can be cancelled",
                        "see its state with: ftui runs show " + str(run.id))
    log(store, run.id, "cancel requested")
    return get_run(store, run.id)


def request_pause(store: Store, run_id: int, pause: bool = True) -> TrainingRun:
    run = get_run(store, run_id)
    if run.status not in ACTIVE:
        raise FtuiError(f"run {run.id} is {run.status}, not running", "only a running run pauses")
    update_run(store, run.id, pause_requested=pause)
    log(store, run.id, "pause requested" if pause else "resume requested")
    return get_run(store, run.id)


def resume_run(store: Store, run_id: int) -> TrainingRun:
    """Queue a cancelled, failed or interrupted run again; it continues from its last
    checkpoint (same step count and optimizer state)."""
    mark_stale(store)
    run = get_run(store, run_id)
    if run.status == "completed":
        raise FtuiError(f"run {run.id} is completed: it reached its last step "
                        f"({run.step}), so nothing is left to resume",
                        "start a new run to train further (ftui train, or n on the Training "
                        "screen)")
    if run.status == "paused":  # it continues where it is: unpausing is what is wanted
        raise FtuiError(f"run {run.id} is paused: it goes on from step {run.step} when "
                        "unpaused", f"unpause it: ftui runs unpause {run.id}, or p on the "
                        "Training screen")
    if run.status not in RESUMABLE:
        raise FtuiError(f"run {run.id} is {run.status}; resume works on "
                        f"{', '.join(RESUMABLE)} runs", "wait for it to end, or cancel it first")
    if run.step > 0 and run.output_dir and not Path(run.output_dir).is_dir():
        held = host_of(run.worker)
        if not _live_worker_on(store, held):
            raise FtuiError(f"cannot resume: {files_missing(run, run.output_dir)}, and no worker "
                            f"runs there", f"start `ftui worker` on {held} (it takes the run), "
                            f"or {FILES_FIX}")
    update_run(store, run.id, status="queued", finished_at=None, cancel_requested=False)
    log(store, run.id, f"queued again from step {run.step}")
    return get_run(store, run.id)


def _live_worker_on(store: Store, host: str | None) -> bool:
    from ftui.store import Worker

    if host is None:
        return False
    with store.session() as s:
        return s.exec(select(func.count()).select_from(Worker).where(
            Worker.host == host, Worker.status != "stopped",
            col(Worker.heartbeat_at) >= db_now(-STALE_AFTER_S))).one() > 0


def require_model_files(store: Store, model: RegisteredModel, what: str) -> None:
    """Refuse to `what` a registered model whose files are not on this machine (a worker on
    another machine trained it), naming that machine and the fix."""
    if model.kind == "ollama" or not model.path:
        return
    run = None
    if model.run_id is not None:
        with store.session() as s:
            run = s.get(TrainingRun, model.run_id)
    require_files(run, model.path, f"{what} {model.name}")


def delete_run(store: Store, run_id: int, remove_files: bool = False,
               home: Path | None = None) -> dict[str, Any]:
    """Forget a run that is not queued or running: its row, metrics and log. With
    `remove_files`, also its folder, only where ftui made it ($FTUI_HOME/runs/run-ID) and no
    registered model still uses it. Returns {"deleted": id, "removed_files": path or None}."""
    mark_stale(store)
    run = get_run(store, run_id)
    if run.status in (*ACTIVE, "queued"):
        raise FtuiError(f"run {run.id} is {run.status}; a queued or running run is not deleted",
                        f"cancel it first (ftui runs cancel {run.id}), then delete it")
    folder = _owned_run_folder(run, home) if remove_files else None
    if folder is not None:
        with store.session() as s:
            users = [m for m in s.exec(select(RegisteredModel)) if m.run_id == run.id or (
                m.path and _inside(Path(m.path), folder))]
        if users:
            names = ", ".join(f"{m.id} ({m.name})" for m in users)
            raise FtuiError(f"registered model {names} uses files in {folder}",
                            f"delete the model first (ftui models delete {users[0].id} --yes), "
                            "or delete the run without --remove-files")
    with store.engine.begin() as conn:
        conn.execute(delete(RunMetric.__table__).where(RunMetric.__table__.c.run_id == run.id))
        conn.execute(delete(RunEvent.__table__).where(RunEvent.__table__.c.run_id == run.id))
        conn.execute(update(RegisteredModel.__table__)
                     .where(RegisteredModel.__table__.c.run_id == run.id).values(run_id=None))
        conn.execute(delete(T).where(T.c.id == run.id))
    removed = None
    if folder is not None and folder.exists():
        shutil.rmtree(folder)
        removed = str(folder)
    return {"deleted": run.id, "removed_files": removed}


def _inside(path: Path, folder: Path) -> bool:
    try:
        return path.resolve().is_relative_to(folder.resolve())
    except OSError:
        return False


def _owned_run_folder(run: TrainingRun, home: Path | None) -> Path | None:
    """The run's folder if ftui made it: exactly $FTUI_HOME/runs/run-ID, not a link. Anything
    else is refused, naming the path; None when the run never got a folder."""
    if home is None:
        raise FtuiError("removing a run's files needs ftui's home folder", "pass home=")
    expected = Path(home) / "runs" / f"run-{run.id}"
    recorded = Path(run.output_dir) if run.output_dir else expected
    if not recorded.exists() and not recorded.is_symlink():
        return None
    if recorded.is_symlink() or not recorded.is_dir() or (
            recorded.resolve() != expected.resolve() or expected.is_symlink()):
        raise FtuiError(f"run {run.id}'s folder {recorded} is not one ftui made under "
                        f"{Path(home) / 'runs'}; it is left alone",
                        "delete the run without --remove-files, and remove that folder yourself "
                        "if you mean to")
    return expected


def fail_run(store: Store, run_id: int, message: str, detail: str | None = None) -> bool:
    """Mark a run failed with its message (and a debug detail). Never raises: on a full disk
    the store may refuse even this; then False (the run shows as interrupted once its
    heartbeat is stale, and resumes from its last complete checkpoint)."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        update_run(store, run_id, status="failed", error=message, finished_at=utcnow())
    except (SQLAlchemyError, OSError):
        return False
    try:
        log(store, run_id, message, "error")
        if detail:
            log(store, run_id, detail, "debug")
    except (SQLAlchemyError, OSError):
        pass  # the status and its message are in: that is what matters
    return True


def drop_incomplete_checkpoints(out: Path) -> list[str]:
    """Remove checkpoint folders a failure left half-written (transformers writes
    trainer_state.json last): they would break a resume, and on a full disk they hold the
    space the store needs to record the failure."""
    removed = []
    for point in Path(out).glob("checkpoint-*"):
        if point.is_dir() and not point.is_symlink() and not (point / "trainer_state.json").exists():
            shutil.rmtree(point, ignore_errors=True)
            removed.append(point.name)
    return removed


def disk_full_message(err: BaseException, where: Path, run_id: int) -> str | None:
    """A clear message when `err` came from a full disk (ENOSPC, SQLite's "disk is full", or
    a write error while almost nothing is left on the disk holding `where`); else None."""
    import errno

    chain, seen = [], err
    while seen is not None and len(chain) < 8:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    said = any((isinstance(e, OSError) and e.errno == errno.ENOSPC) or "disk is full" in str(e)
               or "no space left" in str(e).lower() for e in chain)
    try:
        free = shutil.disk_usage(where if Path(where).exists() else Path(where).parent).free
    except OSError:
        free = None
    if not said and (free is None or free >= 1 << 20):
        return None
    left = f" ({free / 2**20:.1f} MiB free on the disk holding {where})" if free is not None else ""
    first = str(err).splitlines()[0][:200] if str(err) else type(err).__name__
    return (f"the disk is full{left}: {type(err).__name__}: {first}\n"
            f"  fix: free some disk space, then resume: ftui runs resume {run_id}")


def log(store: Store, run_id: int, message: str, level: str = "info") -> None:
    with store.engine.begin() as conn:
        conn.execute(insert(RunEvent.__table__).values(run_id=run_id, message=message,
                                                       level=level, created_at=utcnow()))


def events(store: Store, run_id: int, limit: int = 200) -> list[RunEvent]:
    with store.session() as s:
        rows = s.exec(select(RunEvent).where(RunEvent.run_id == run_id)
                      .order_by(col(RunEvent.id).desc()).limit(limit)).all()
    return list(reversed(rows))


def write_metrics(store: Store, run_id: int, step: int, values: dict[str, float]) -> None:
    """One row per run, step and name: a value written again for the same step (a step redone
    after a resume) replaces the earlier one."""
    rows = [{"run_id": run_id, "step": step, "name": k, "value": float(v), "created_at": utcnow()}
            for k, v in values.items() if v is not None]
    if rows:
        m = RunMetric.__table__
        with store.engine.begin() as conn:
            conn.execute(delete(m).where(m.c.run_id == run_id, m.c.step == step,
                                         m.c.name.in_([r["name"] for r in rows])))
            conn.execute(insert(m), rows)


CARRIED = ("trained_tokens", "running_seconds")  # cumulative figures a resume carries on


def rewind_metrics(store: Store, run_id: int, step: int) -> dict[str, float]:
    """Before a resume from the checkpoint at `step`: forget the metrics of the steps after it
    (they are redone), put best_eval_loss back to what is left, and return the cumulative
    figures (trained tokens, running seconds) as they were at that checkpoint."""
    m = RunMetric.__table__
    with store.engine.begin() as conn:
        conn.execute(delete(m).where(m.c.run_id == run_id, m.c.step > step))
        best = conn.execute(select(func.min(m.c.value)).where(
            m.c.run_id == run_id, m.c.name == "eval_loss")).scalar()
        conn.execute(update(T).where(T.c.id == run_id).values(best_eval_loss=best))
        carried = {}
        for name in CARRIED:
            value = conn.execute(select(m.c.value).where(m.c.run_id == run_id, m.c.name == name)
                                 .order_by(m.c.step.desc()).limit(1)).scalar()
            carried[name] = float(value or 0.0)
    return carried


def running_seconds(run: TrainingRun) -> float | None:
    """Seconds the run has actually been training, over all its resumes: neither the time it
    sat cancelled, failed or queued, nor the time it was paused."""
    value = run.summary.get("running_seconds", run.summary.get("seconds"))
    return float(value) if value is not None else None


def tokens_per_second(run: TrainingRun) -> float | None:
    """THE tokens/s of a run (the Training screen and `ftui runs show` both use it): trained
    tokens (assistant tokens with labels, all ranks) / running seconds."""
    return speed(run.train_tokens, running_seconds(run))


def speed(tokens: int | float | None, seconds: float | None) -> float | None:
    return tokens / seconds if tokens and seconds else None


def metric_series(store: Store, run_id: int, name: str) -> list[tuple[int, float]]:
    with store.session() as s:
        rows = s.exec(select(RunMetric.step, RunMetric.value).where(
            RunMetric.run_id == run_id, RunMetric.name == name).order_by(col(RunMetric.step)))
        return [(int(a), float(b)) for a, b in rows]


def config_diff(store: Store, a_id: int, b_id: int) -> list[tuple[str, Any, Any]]:
    """(setting, value in run a, value in run b) for every setting that differs, the base model
    and dataset included."""
    a, b = get_run(store, a_id), get_run(store, b_id)
    left = {"base model": a.base_model, "dataset": a.dataset_id, **a.config}
    right = {"base model": b.base_model, "dataset": b.dataset_id, **b.config}
    return [(k, left.get(k), right.get(k)) for k in dict.fromkeys([*left, *right])
            if left.get(k) != right.get(k)]
