"""The training worker's metrics (`ftui worker --metrics-port`): scraped over HTTP while a real
tiny-model run is held paused mid-run, and read with prometheus_client's own parser."""

from __future__ import annotations

import threading

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ftui.curate import DatasetSpec, build_dataset
from ftui.errors import FtuiError
from ftui.metrics import serve_worker_metrics
from ftui.telemetry import gpu_stats
from ftui.train import runs
from ftui.train.config import RunConfig
from ftui.train.worker import run_worker

FAST = dict(max_steps=8, batch_size=2, eval_steps=8, save_steps=8, max_seq_len=256,
            learning_rate=1e-3, logging_steps=1)


def families(url: str) -> dict[str, list]:
    found: dict[str, list] = {}
    for family in text_string_to_metric_families(httpx.get(url + "/metrics").text):
        found.setdefault(family.name, [])
        for s in family.samples:
            found[s.name] = [*found.get(s.name, []), (s.labels, s.value)]
    return found


def wait_for(cond, timeout=120.0):
    import time

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting")


def test_a_worker_serves_its_runs_progress_and_the_gpus(demo_store, home):
    store = demo_store
    version, _, _ = build_dataset(store, "train-set", DatasetSpec(min_rating=4, val=0.1,
                                                                   near_dup=None, max_examples=40))
    run = runs.create_run(store, version.id, "tiny", RunConfig(**FAST).validate())
    server, thread = serve_worker_metrics(store, "127.0.0.1:0")
    url = f"http://127.0.0.1:{server.server_port}"
    try:
        idle = families(url)
        assert idle["ftui_worker_busy"] == [({}, 0.0)] and idle["ftui_train_step"] == []
        worker = threading.Thread(target=run_worker, args=(store, home),
                                  kwargs={"once": True, "only": run.id})
        worker.start()
        try:
            wait_for(lambda: runs.get_run(store, run.id).step >= 2)
            runs.request_pause(store, run.id)  # hold it mid-run to read a steady state
            wait_for(lambda: runs.get_run(store, run.id).status == "paused")
            held = runs.get_run(store, run.id)
            last_loss = runs.metric_series(store, run.id, "train_loss")[-1][1]
            found = families(url)
        finally:
            runs.request_pause(store, run.id, pause=False)
            worker.join(300)
        key = {"run": str(run.id)}
        assert found["ftui_worker_busy"] == [({}, 1.0)]
        assert found["ftui_train_step"] == [(key, float(held.step))]
        assert found["ftui_train_total_steps"] == [(key, 8.0)]
        assert found["ftui_train_paused"] == [(key, 1.0)]
        assert found["ftui_train_loss"] == [(key, pytest.approx(last_loss))]
        assert found["ftui_train_tokens_per_second"][0][1] > 0
        assert found["ftui_train_trained_tokens"] == [(key, float(held.train_tokens))]
        # GPU figures: one sample per GPU NVML sees (none on a machine without one)
        gpus = gpu_stats()
        for name in ("ftui_gpu_utilization_ratio", "ftui_gpu_memory_used_bytes",
                     "ftui_gpu_memory_total_bytes"):
            assert name in found and len(found.get(name, [])) == len(gpus), name
        for (labels, used), gpu in zip(found.get("ftui_gpu_memory_used_bytes", []), gpus,
                                       strict=True):
            assert labels == {"gpu": str(gpu.index), "name": gpu.name} and used > 0
        assert runs.get_run(store, run.id).status == "completed"
        done = families(url)
        assert done["ftui_worker_busy"] == [({}, 0.0)] and done["ftui_train_step"] == []
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def test_a_busy_port_is_refused_with_a_fix(store):
    server, thread = serve_worker_metrics(store, "127.0.0.1:0")
    try:
        with pytest.raises(FtuiError, match="cannot serve metrics on 127.0.0.1") as err:
            serve_worker_metrics(store, f"127.0.0.1:{server.server_port}")
        assert "--metrics-port" in err.value.hint
        with pytest.raises(FtuiError, match="--metrics-port 'x:y'"):
            serve_worker_metrics(store, "x:y")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def test_ftui_worker_metrics_port_serves_until_stopped(store, tmp_path):
    import os
    import re
    import subprocess
    import sys

    env = {**os.environ, "FTUI_HOME": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "ftui", "--db", store.url, "worker",
                             "--metrics-port", "127.0.0.1:0"], env=env, text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        line = proc.stderr.readline()
        found = re.search(r"worker metrics on (http://127\.0\.0\.1:\d+)/metrics", line)
        assert found, line + (proc.stderr.read() if proc.poll() is not None else "")
        scraped = families(found.group(1))
        assert scraped["ftui_worker_busy"] == [({}, 0.0)]
        assert scraped["process_resident_memory_bytes"][0][1] > 0
    finally:
        proc.terminate()
        proc.wait(30)
        proc.stderr.close()


def test_gpu_figures_are_exported_in_prometheus_units(store, monkeypatch):
    """What NVML reports (through ftui.telemetry) becomes ratios and bytes; a figure the card
    does not give is left out, not exported as 0."""
    from prometheus_client import generate_latest

    from ftui import telemetry
    from ftui.metrics import worker_registry

    cards = [telemetry.GpuStat(0, "NVIDIA H100 80GB HBM3", 87.0, 40_000.0, 81_559.0, 61.0,
                               350.0, 700.0, 39_000.0),
             telemetry.GpuStat(1, "NVIDIA H100 80GB HBM3", None, 1_024.0, 81_559.0, None,
                               None, None, None)]
    monkeypatch.setattr(telemetry, "gpu_stats", lambda pid=None: cards)
    found: dict[str, list] = {}
    for family in text_string_to_metric_families(generate_latest(worker_registry(store))
                                                 .decode()):
        for s in family.samples:
            if "gpu" in s.labels:
                found.setdefault(s.name, []).append((s.labels["gpu"], s.value))
    assert found["ftui_gpu_utilization_ratio"] == [("0", 0.87)]
    assert found["ftui_gpu_memory_used_bytes"] == [("0", 40_000 * 2**20), ("1", 1_024 * 2**20)]
    assert found["ftui_gpu_memory_total_bytes"] == [("0", 81_559 * 2**20), ("1", 81_559 * 2**20)]
    assert found["ftui_gpu_process_memory_bytes"] == [("0", 39_000 * 2**20)]

    def broken(pid=None):
        raise RuntimeError("NVML: GPU is lost")

    monkeypatch.setattr(telemetry, "gpu_stats", broken)  # the scrape still answers
    text = generate_latest(worker_registry(store)).decode()
    assert "ftui_worker_busy 0.0" in text and "ftui_gpu_memory_used_bytes{" not in text
