"""A detached worker is started with the store's URL in its environment, never on its command
line: `ps` shows every user the command line, and a PostgreSQL URL carries a password."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from ftui.train.worker import spawn_detached


def test_the_store_url_is_not_on_the_detached_workers_command_line(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("FTUI_HOME", str(tmp_path))
    secret_db = tmp_path / "s3cret-pa55word.db"  # stands in for a URL's password
    log = tmp_path / "worker.log"
    started: list = []
    real_popen = subprocess.Popen

    def recording_popen(args, **kwargs):  # what reaches the OS: the command line and env
        started.append((args, kwargs.get("env")))
        return real_popen(args, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", recording_popen)
    spawn_detached(f"sqlite:///{secret_db}", 999, log)
    [(args, env)] = started
    cmdline = " ".join(map(str, args))
    assert "worker" in cmdline and "999" in cmdline
    assert "s3cret" not in cmdline
    assert env["FTUI_DATABASE_URL"] == f"sqlite:///{secret_db}"
    deadline = time.monotonic() + 60
    while "fix:" not in (log.read_text() if log.exists() else "") and time.monotonic() < deadline:
        time.sleep(0.1)
    # the worker found the store through its environment: it names that very file
    assert f"no store at {secret_db}" in log.read_text()
