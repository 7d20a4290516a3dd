"""The training worker: takes queued runs one at a time. Runs as a thread inside the TUI or as
its own process (`ftui worker`), so a run can outlive the terminal that started it."""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
from pathlib import Path

from ftui.store import Store
from ftui.train.runs import claim_next, mark_stale


def run_worker(store: Store, home: Path, *, once: bool = False, only: int | None = None,
               stop: threading.Event | None = None, poll_s: float = 1.0) -> list[int]:
    """Run queued runs until none is left (`once`) or `stop` is set. Returns the run ids done."""
    from ftui.train.trainer import execute_run

    done: list[int] = []
    while stop is None or not stop.is_set():
        mark_stale(store)
        run_id = claim_next(store, only)
        if run_id is None:
            if once:
                break
            (stop or threading.Event()).wait(poll_s)
            continue
        execute_run(store, run_id, home)
        done.append(run_id)
        if only is not None:
            break
    return done


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
            if claim_next(self.store, only=run_id) is not None:
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
