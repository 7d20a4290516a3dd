"""The training worker: takes queued runs one at a time. Runs as a thread inside the TUI or as
its own process (`ftui worker`), so a run can outlive the terminal that started it."""

from __future__ import annotations

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
    """The TUI's in-process worker. Daemon: quitting the app does not wait for a run; the run
    then shows as interrupted and resumes from its last checkpoint."""

    def __init__(self, store: Store, home: Path) -> None:
        super().__init__(daemon=True, name="ftui-train-worker")
        self.store, self.home = store, home
        self.stop_event = threading.Event()

    def run(self) -> None:
        run_worker(self.store, self.home, stop=self.stop_event)


def spawn_detached(db_url: str, run_id: int, log_file: Path) -> int:
    """Start `ftui worker --once --run ID` as its own session: it survives the terminal."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ftui", "--db", db_url, "worker", "--once", "--run", str(run_id)],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )
    return proc.pid
