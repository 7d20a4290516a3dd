"""The training worker: takes queued runs one at a time. Runs as a thread inside the TUI or as
its own process (`ftui worker`), so a run can outlive the terminal that started it."""

from __future__ import annotations

import contextlib
import queue
import socket
import subprocess
import sys
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, update
from sqlmodel import col, select

from ftui.errors import FtuiError
from ftui.store import Store, TrainingRun, Worker, db_now
from ftui.train.runs import (
    STALE_AFTER_S,
    Capacity,
    claim_next,
    get_run,
    gpu_needs,
    gpu_unmet,
    host_of,
    mark_stale,
    unmet,
    worker_name,
)

HEARTBEAT_S = 5
FORGET_STOPPED_S = 7 * 24 * 3600  # stopped workers' rows are dropped after a week
W = Worker.__table__


def machine_capacity(home: Path | None) -> Capacity:
    """This machine's GPUs as NVML reports them (none without an NVIDIA driver) and its runs
    folder."""
    from ftui.telemetry import gpu_stats

    gpus = gpu_stats()
    return Capacity(host=socket.gethostname(), gpu_names=tuple(g.name for g in gpus),
                    gpu_memory_mb=tuple(int(g.mem_total_mb or 0) for g in gpus),
                    runs_dir=Path(home) / "runs" if home is not None else None)


def run_worker(store: Store, home: Path, *, once: bool = False, only: int | None = None,
               stop: threading.Event | None = None, poll_s: float = 1.0) -> list[int]:
    """Run queued runs this machine can serve until none is left (`once`) or `stop` is set;
    the worker shows in `ftui workers` meanwhile. Returns the run ids done."""
    from ftui.train.trainer import execute_run

    capacity = machine_capacity(home)
    if only is not None:
        _check_servable(store, only, capacity)
    done: list[int] = []
    with WorkerRecord(store, capacity) as me:
        while stop is None or not stop.is_set():
            mark_stale(store)
            run_id = claim_next(store, only, capacity, name=me.name)
            if run_id is None:
                if once:
                    break
                (stop or threading.Event()).wait(poll_s)
                continue
            me.update(status="training", current_run_id=run_id)
            try:
                execute_run(store, run_id, home)
            finally:
                me.update(status="idle", current_run_id=None)
            done.append(run_id)
            if only is not None:
                break
    return done


def _check_servable(store: Store, run_id: int, capacity: Capacity) -> None:
    run = get_run(store, run_id)
    if run.status == "queued" and (why := unmet(run, capacity)):
        raise FtuiError(f"run {run.id} is queued but cannot run here: {why}",
                        "a worker that can serve it takes it from the queue (see: ftui workers); "
                        f"or cancel it (ftui runs cancel {run.id}) and train without gpus / "
                        "gpu_kind / gpu_memory_gb")


class WorkerRecord:
    """This process's row in the worker table: registered on enter, a heartbeat every few
    seconds on the database's clock (a thread, so a long model load still beats), `stopped` on
    exit."""

    def __init__(self, store: Store, capacity: Capacity) -> None:
        self.store, self.capacity = store, capacity
        self.name = worker_name()
        self.id: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True, name="ftui-worker-beat")

    def __enter__(self) -> WorkerRecord:
        gpus = self.capacity
        values = dict(
            host=gpus.host, pid=int(self.name.rsplit(":", 1)[1]), status="idle",
            started_at=db_now(), heartbeat_at=db_now(), gpu_count=gpus.gpu_count,
            gpu_kind=", ".join(dict.fromkeys(gpus.gpu_names)) or None,
            gpu_memory_mb=min(gpus.gpu_memory_mb) if gpus.gpu_memory_mb else None,
            current_run_id=None, runs_dir=str(gpus.runs_dir) if gpus.runs_dir else None)
        with self.store.engine.begin() as conn:
            conn.execute(delete(W).where(W.c.status == "stopped",
                                         W.c.heartbeat_at < db_now(-FORGET_STOPPED_S)))
            conn.execute(delete(W).where(W.c.name == self.name))  # a pid used again
            self.id = conn.execute(insert(W).values(name=self.name, **values)
                                   .returning(W.c.id)).scalar()
        self._thread.start()
        return self

    def update(self, **values: Any) -> None:
        with self.store.engine.begin() as conn:
            conn.execute(update(W).where(W.c.id == self.id).values(heartbeat_at=db_now(),
                                                                    **values))

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            with contextlib.suppress(Exception):  # a lock or a hiccup: the next beat retries
                self.update()

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=HEARTBEAT_S + 1)
        with contextlib.suppress(Exception):
            self.update(status="stopped", current_run_id=None)


def list_workers(store: Store, recent_s: int | None = 3600) -> list[dict[str, Any]]:
    """Workers, live ones first: state (idle / training / gone / stopped), seconds since the
    last heartbeat (on the database's clock), GPUs and current run. Stopped or gone workers
    are listed only if seen within `recent_s` (None: all)."""
    with store.session() as s:
        now = s.exec(select(db_now())).one()
        rows = list(s.exec(select(Worker).order_by(col(Worker.id).desc())))
    out = []
    for w in rows:
        age = (now - w.heartbeat_at).total_seconds() if w.heartbeat_at else None
        gone = age is None or age > STALE_AFTER_S
        state = "stopped" if w.status == "stopped" else ("gone" if gone else w.status)
        if state in ("stopped", "gone") and recent_s is not None and (age or 0) > recent_s:
            continue
        out.append({"id": w.id, "name": w.name, "host": w.host, "pid": w.pid, "state": state,
                    "heartbeat_age_s": round(age, 1) if age is not None else None,
                    "heartbeat_at": _iso(w.heartbeat_at), "started_at": _iso(w.started_at),
                    "gpu_count": w.gpu_count, "gpu_kind": w.gpu_kind,
                    "gpu_memory_mb": w.gpu_memory_mb, "current_run": w.current_run_id,
                    "runs_dir": w.runs_dir})
    order = {"training": 0, "idle": 1, "gone": 2, "stopped": 3}
    return sorted(out, key=lambda w: order.get(w["state"], 4))


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment else None


def waiting_reason(store: Store, run: TrainingRun) -> str | None:
    """Why a queued run waits, in words, when it asks for GPUs no live worker has, or when its
    checkpoints are not on this machine; None otherwise."""
    if run.status != "queued":
        return None
    notes = []
    if needs := gpu_needs(run.config):
        live = [w for w in list_workers(store, recent_s=0) if w["state"] in ("idle", "training")]
        if not live:
            notes.append(f"no worker is running, and it needs {needs}: start `ftui worker` on a "
                         "machine that has them")
        else:
            reasons = [(w["name"], gpu_unmet(run.config, _capacity_of(w))) for w in live]
            if all(why for _, why in reasons):
                notes.append("no live worker can serve it: " +
                             "; ".join(f"{name} {why}" for name, why in reasons))
    if run.step > 0 and run.output_dir and not Path(run.output_dir).is_dir():
        notes.append(f"its checkpoints are in {run.output_dir} on {host_of(run.worker)}: only a "
                     "worker that reaches that folder takes it")
    return "; ".join(notes) if notes else None


def _capacity_of(row: dict[str, Any]) -> Capacity:
    # The table keeps the distinct GPU names and the smallest memory: every GPU is taken to be
    # of each name listed (exact for the usual machine with one kind of GPU).
    kinds = row["gpu_kind"] or ""
    return Capacity(host=row["host"], gpu_names=(kinds,) * row["gpu_count"],
                    gpu_memory_mb=(row["gpu_memory_mb"] or 0,) * row["gpu_count"])


class WorkerThread(threading.Thread):
    """The TUI's in-process worker: runs, one at a time, the runs the app submits to it (never
    a run queued for a background worker process). Daemon: if the app dies mid-run, the run shows
    as interrupted and resumes from its last checkpoint."""

    def __init__(self, store: Store, home: Path) -> None:
        super().__init__(daemon=True, name="ftui-train-worker")
        self.store, self.home = store, home
        self.stop_event = threading.Event()
        self._ids: queue.Queue[int] = queue.Queue()

    def submit(self, run_id: int) -> None:
        self._ids.put(run_id)

    def run(self) -> None:
        from ftui.train.trainer import execute_run

        lower_priority()
        while not self.stop_event.is_set():
            try:
                run_id = self._ids.get(timeout=0.5)
            except queue.Empty:
                continue
            # a run asking for GPUs this machine lacks stays queued for a worker that has them
            if claim_next(self.store, only=run_id,
                          capacity=machine_capacity(self.home)) is not None:
                execute_run(self.store, run_id, self.home)
                release_memory()


def lower_priority(niceness: int = 10) -> None:
    """Train at a lower CPU priority than the UI thread of the same app: on a busy CPU the
    scheduler then runs the UI first and keys repaint at once (training loses little: the UI is
    idle most of the time). Linux threads have their own nice value; the torch threads this
    thread starts inherit it."""
    import contextlib
    import os

    if hasattr(os, "setpriority"):
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)


def release_memory() -> None:
    """After a run ends (completed, failed or cancelled) the model, optimizer and their caches
    are garbage: collect them, hand CUDA's cached blocks back, and ask glibc to return freed
    heap pages, so a long-lived app does not keep a run's peak (measured: 3.8 GB after a
    cancelled demo run)."""
    import contextlib
    import ctypes
    import gc
    import sys

    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):  # not glibc (musl): no trim
            ctypes.CDLL("libc.so.6").malloc_trim(0)


def spawn_detached(db_url: str, run_id: int, log_file: Path) -> int:
    """Start `ftui worker --once --run ID` as its own session: it survives the terminal."""
    import os

    log_file.parent.mkdir(parents=True, exist_ok=True)
    # The URL travels in the environment, not on the command line: `ps` shows every user the
    # command line, and a PostgreSQL URL carries its password.
    env = {**os.environ, "FTUI_DATABASE_URL": db_url}
    with log_file.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ftui", "worker", "--once", "--run", str(run_id)],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            env=env,
        )
    return proc.pid
