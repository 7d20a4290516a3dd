"""One queue, many workers (issue 15): worker processes sharing a store claim each run once,
heartbeats on the database's clock, GPU needs matched against what NVML reports (a stand-in
NVML here: tests/fake_nvml), and a run's files refused where they are not."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, select, update

from ftui import telemetry
from ftui.curate import DatasetSpec, build_dataset
from ftui.errors import FtuiError
from ftui.ingest import log_interaction
from ftui.store import RegisteredModel, RunEvent, TrainingRun, Worker, db_now, utcnow
from ftui.train import runs
from ftui.train.config import RunConfig
from ftui.train.worker import WorkerRecord, list_workers, machine_capacity, waiting_reason

ROOT = Path(__file__).resolve().parents[1]
FAKE_NVML = Path(__file__).parent / "fake_nvml"
ONE_STEP = dict(max_steps=1, batch_size=2, eval_steps=1, save_steps=1, max_seq_len=128,
                logging_steps=1)
H100 = {"name": "NVIDIA H100 80GB HBM3", "memory_mb": 81559}
A100 = {"name": "NVIDIA A100-SXM4-40GB", "memory_mb": 40960}


def _dataset(store) -> int:
    for i in range(8):
        log_interaction(store, [{"role": "user", "content": f"question {i}"},
                                {"role": "assistant", "content": f"answer {i}"}], rating=5)
    version, _, _ = build_dataset(store, "queue", DatasetSpec(min_rating=4, near_dup=None,
                                                               val=0.0))
    return version.id


def _queue(store, n: int = 1, **config) -> list[int]:
    dataset_id = _dataset(store)
    return [runs.create_run(store, dataset_id, "tiny", RunConfig(**{**ONE_STEP, **config})
                            .validate()).id for _ in range(n)]


@pytest.fixture
def fake_gpus(monkeypatch):
    """Set the GPUs this process's NVML reports: fake_gpus([H100, H100])."""
    sys.path.insert(0, str(FAKE_NVML))
    try:
        import importlib

        fake = importlib.import_module("pynvml")
        if not getattr(fake, "__file__", "").startswith(str(FAKE_NVML)):
            fake = importlib.util.module_from_spec(importlib.util.spec_from_file_location(
                "pynvml", FAKE_NVML / "pynvml.py"))
            fake.__spec__.loader.exec_module(fake)
    finally:
        sys.path.remove(str(FAKE_NVML))
    monkeypatch.setitem(sys.modules, "pynvml", fake)

    def set_gpus(gpus: list[dict]) -> None:
        monkeypatch.setenv("FTUI_FAKE_NVML", json.dumps(gpus))
        monkeypatch.setattr(telemetry, "_NVML", None)  # probe again

    yield set_gpus
    telemetry._NVML = None


_WORKER = """
import json, sys
from ftui.cli import main
print("ready", flush=True)
sys.stdin.readline()  # both workers start claiming at the same moment
sys.exit(main(["worker", "--once", "--json"]))
"""


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_worker_processes_share_four_queued_runs_each_claimed_once(backend, request,
                                                                        tmp_path, home):
    url = (request.getfixturevalue("pg_url") if backend == "postgresql"
           else f"sqlite:///{tmp_path / 'ftui.db'}")
    from ftui.store import open_store
    from ftui.train.base import load_base

    load_base("tiny", home)  # built once here, not by both workers at once
    store = open_store(url)
    queued = _queue(store, 4)
    env = {**os.environ, "FTUI_DATABASE_URL": url, "FTUI_HOME": str(home)}
    workers = [subprocess.Popen([sys.executable, "-c", _WORKER], cwd=ROOT, env=env, text=True,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE) for _ in range(2)]
    for w in workers:
        assert w.stdout.readline().strip() == "ready", w.stderr.read()[-3000:]
    for w in workers:
        w.stdin.write("go\n")
        w.stdin.flush()
    done = []
    for w in workers:
        out, err = w.communicate(timeout=300)
        assert w.returncode == 0, err[-3000:]
        done.append(json.loads(out.strip().splitlines()[-1])["runs"])
    assert sorted(done[0] + done[1]) == queued, done  # each run by exactly one worker
    assert not set(done[0]) & set(done[1])
    with store.session() as s:
        for run_id in queued:
            run = s.get(TrainingRun, run_id)
            assert run.status == "completed", (run_id, run.status, run.error)
            starts = s.exec(select(RunEvent.message).where(
                RunEvent.run_id == run_id, RunEvent.message.like("training:%"))).all()
            assert len(starts) == 1, (run_id, starts)  # trained once
    names = {w["name"] for w in list_workers(store)}
    assert len(names) == 2 and {w["state"] for w in list_workers(store)} == {"stopped"}
    store.close()


def test_a_worker_claims_only_runs_it_can_serve_and_a_queued_run_says_why(any_store,
                                                                          fake_gpus, home):
    plain, two, h100, big = _queue(any_store, 1) + [
        runs.create_run(any_store, runs.get_run(any_store, 1).dataset_id, "tiny",
                        RunConfig(**{**ONE_STEP, **c}).validate()).id
        for c in ({"gpus": 2}, {"gpu_kind": "h100"}, {"gpu_memory_gb": 80})]
    fake_gpus([A100])
    small = machine_capacity(home)
    assert small.gpu_names == (A100["name"],) and small.gpu_memory_mb == (40960,)
    with WorkerRecord(any_store, small) as me:
        [listed] = list_workers(any_store)
        assert listed["gpu_count"] == 1 and listed["gpu_kind"] == A100["name"]
        assert listed["gpu_memory_mb"] == 40960 and listed["state"] == "idle"
        assert runs.claim_next(any_store, capacity=small, name=me.name) == plain
        assert runs.claim_next(any_store, capacity=small, name=me.name) is None
        for run_id, need in ((two, "needs 2 GPUs"), (h100, "needs 1 h100 GPU"),
                             (big, "needs 1 80 GB+ GPU")):
            why = waiting_reason(any_store, runs.get_run(any_store, run_id))
            assert why.startswith("no live worker can serve it") and need in why, why
            assert me.name in why and "A100" in why
    assert waiting_reason(any_store, runs.get_run(any_store, two)).startswith(
        "no worker is running, and it needs 2 GPUs")
    fake_gpus([H100, H100])
    big_box = machine_capacity(home)
    assert [runs.claim_next(any_store, capacity=big_box) for _ in range(4)] == [
        two, h100, big, None]


def test_run_worker_for_one_run_it_cannot_serve_says_so(store, home, fake_gpus):
    fake_gpus([])  # this machine: no NVIDIA GPU
    (run_id,) = _queue(store, 1, gpus=1)
    from ftui.train.worker import run_worker

    with pytest.raises(FtuiError, match=f"run {run_id} is queued but cannot run here: needs 1 GPU") as why:
        run_worker(store, home, once=True, only=run_id)
    assert "ftui workers" in why.value.hint
    assert runs.get_run(store, run_id).status == "queued"


def test_heartbeats_and_staleness_use_the_database_clock(any_store, monkeypatch, home):
    # This machine's clock is two hours fast: nothing it stamps may count.
    skewed = utcnow() + timedelta(hours=2)
    for module in ("ftui.store.models", "ftui.train.runs", "ftui.train.trainer"):
        monkeypatch.setattr(f"{module}.utcnow", lambda: skewed, raising=False)
    (run_id,) = _queue(any_store, 1)
    with WorkerRecord(any_store, machine_capacity(home)) as me:
        assert runs.claim_next(any_store, name=me.name) == run_id
        with any_store.session() as s:
            now = s.execute(select(db_now())).scalar()
            beat = s.get(TrainingRun, run_id).heartbeat_at
            worker_beat = s.execute(select(Worker.heartbeat_at)).scalar()
        assert abs((now - beat).total_seconds()) < 5
        assert abs((now - worker_beat).total_seconds()) < 5
        assert list_workers(any_store)[0]["heartbeat_age_s"] < 5
        assert runs.mark_stale(any_store) == 0
        with any_store.engine.begin() as conn:  # 2 minutes without a beat, by the database
            conn.execute(update(TrainingRun.__table__).values(heartbeat_at=db_now(-120)))
            conn.execute(update(Worker.__table__).values(heartbeat_at=db_now(-120)))
        assert list_workers(any_store)[0]["state"] == "gone"
        assert runs.mark_stale(any_store) == 1
        assert runs.get_run(any_store, run_id).status == "interrupted"


def test_workers_list_the_current_run_and_stop(store, home, fake_gpus):
    fake_gpus([H100, H100])
    (run_id,) = _queue(store, 1)
    with WorkerRecord(store, machine_capacity(home)) as me:
        me.update(status="training", current_run_id=run_id)
        [w] = list_workers(store)
        assert (w["state"], w["current_run"], w["gpu_count"]) == ("training", run_id, 2)
        assert w["host"] == socket.gethostname() and w["runs_dir"] == str(home / "runs")
    [w] = list_workers(store)
    assert (w["state"], w["current_run"]) == ("stopped", None)
    with store.engine.begin() as conn:  # it stopped a minute ago (on the database's clock)
        conn.execute(update(Worker.__table__).values(heartbeat_at=db_now(-60)))
    assert list_workers(store, recent_s=30) == []
    assert len(list_workers(store, recent_s=120)) == 1


def _trained_elsewhere(store, tmp_path) -> tuple[TrainingRun, RegisteredModel]:
    """A run a worker on gpu-box-2 trained: its folder is on that machine, not this one."""
    (run_id,) = _queue(store, 1)
    gone = tmp_path / "elsewhere" / f"run-{run_id}"
    runs.update_run(store, run_id, status="cancelled", step=3, worker="gpu-box-2:4242",
                    output_dir=str(gone), adapter_dir=str(gone / "adapter"))
    with store.engine.begin() as conn:
        conn.execute(insert(RegisteredModel.__table__).values(
            name="from-box-2", kind="adapter", base_model="tiny", path=str(gone / "adapter"),
            run_id=run_id, stage="candidate", slot="general", created_at=utcnow()))
    with store.session() as s:
        model = s.execute(select(RegisteredModel)).scalar_one()
    return runs.get_run(store, run_id), model


def test_files_on_another_machine_are_refused_naming_that_machine(store, tmp_path, home):
    from ftui.registry.deploy import deploy
    from ftui.registry.evaluate import evaluate

    run, model = _trained_elsewhere(store, tmp_path)
    for attempt, what in ((lambda: evaluate(store, model.id, home=home, host="http://x:1"),
                           "evaluate"),
                          (lambda: deploy(store, model.id, home=home, host="http://x:1"),
                           "deploy"),
                          (lambda: runs.resume_run(store, run.id), "resume")):
        with pytest.raises(FtuiError) as why:
            attempt()
        assert f"cannot {what}" in why.value.message
        assert "gpu-box-2" in why.value.message and "missing" in why.value.message
        assert "$FTUI_HOME/runs" in why.value.hint
    assert runs.get_run(store, run.id).status == "cancelled"


def test_a_run_resumes_on_the_machine_holding_its_checkpoints(store, tmp_path, home):
    run, _ = _trained_elsewhere(store, tmp_path)
    with store.engine.begin() as conn:  # a live worker on gpu-box-2
        conn.execute(insert(Worker.__table__).values(
            name="gpu-box-2:4242", host="gpu-box-2", pid=4242, status="idle",
            started_at=db_now(), heartbeat_at=db_now(), gpu_count=1))
    assert runs.resume_run(store, run.id).status == "queued"
    here = machine_capacity(home)
    assert runs.claim_next(store, capacity=here) is None  # not from step 0 on this machine
    assert "its checkpoints are in" in waiting_reason(store, runs.get_run(store, run.id))
    (home / "runs" / f"run-{run.id}").mkdir(parents=True)  # a shared runs folder holds them
    assert runs.claim_next(store, capacity=here) == run.id


@pytest.mark.parametrize("bad", [
    {"gpus": -1}, {"gpus": 65}, {"gpus": "two"}, {"gpu_memory_gb": -1},
    {"gpu_memory_gb": "lots"}, {"gpu_kind": "H100\x1b[2J"}, {"gpu_kind": "H100; rm -rf /"},
    {"gpu_kind": "x" * 65}, {"gpu_kind": "Н100"},  # Cyrillic Н
])
def test_gpu_needs_in_the_run_config_are_checked(bad):
    with pytest.raises(FtuiError):
        RunConfig.from_dict(bad).validate()
    ok = RunConfig.from_dict({"gpus": "2", "gpu_kind": "RTX 4090", "gpu_memory_gb": "23.5"})
    assert ok.validate().gpus == 2 and runs.gpu_needs(ok.as_dict()) == "2 RTX 4090 23.5 GB+ GPUs"


def test_cli_workers_and_a_waiting_run(store, home, fake_gpus, capsys):
    from ftui.cli import main

    fake_gpus([A100])
    (run_id,) = _queue(store, 1, gpus=2)
    with WorkerRecord(store, machine_capacity(home)) as me:
        me.update(status="training", current_run_id=run_id)
        assert main(["--db", store.url, "workers", "--json"]) == 0
        [w] = json.loads(capsys.readouterr().out)["workers"]
        assert (w["name"], w["state"], w["current_run"], w["gpu_count"]) == (
            me.name, "training", run_id, 1)
        assert main(["--db", store.url, "workers"]) == 0
        line = capsys.readouterr().out
        assert me.name in line and "training" in line and "1x NVIDIA A100" in line
        assert main(["--db", store.url, "runs", "show", str(run_id), "--json"]) == 0
        shown = json.loads(capsys.readouterr().out)
        assert shown["needs"] == "2 GPUs" and shown["waiting"].startswith(
            "no live worker can serve it")
