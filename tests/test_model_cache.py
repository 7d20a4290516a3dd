"""The local model cache: bounded (least recently used leaves), loads each model once, and never
makes a caller of a loaded model wait for another model's load."""

from __future__ import annotations

import threading
import time

import pytest

import ftui.inference as inference


@pytest.fixture
def counted_loads(monkeypatch):
    """Loads recorded instead of performed; a load of "slow" takes until `release` is set."""
    loads: list[tuple[str, str | None]] = []
    release = threading.Event()

    def fake_load(base, adapter, home):
        loads.append((base, adapter))
        if base == "slow":
            assert release.wait(10)
        return (f"tok-{base}", f"model-{base}-{adapter}")

    monkeypatch.setattr(inference, "_load_local", fake_load)
    inference.forget_local_models()
    yield loads, release
    release.set()
    inference.forget_local_models()


def test_least_recently_used_model_leaves_when_the_cache_is_full(counted_loads, monkeypatch,
                                                                   tmp_path):
    loads, _ = counted_loads
    monkeypatch.setenv("FTUI_MODEL_CACHE", "2")
    inference.local_model("a", None, tmp_path)
    inference.local_model("b", "ad", tmp_path)
    inference.local_model("a", None, tmp_path)  # a is now the most recent
    inference.local_model("c", None, tmp_path)  # evicts b
    assert loads == [("a", None), ("b", "ad"), ("c", None)]
    inference.local_model("a", None, tmp_path)
    assert len(loads) == 3  # a stayed
    inference.local_model("b", "ad", tmp_path)
    assert loads[-1] == ("b", "ad") and len(loads) == 4  # b had left: loaded again


@pytest.mark.parametrize("value", ["0", "-3", "many", ""])
def test_a_bad_cache_size_still_keeps_at_least_one_model(value, monkeypatch):
    monkeypatch.setenv("FTUI_MODEL_CACHE", value)
    assert inference.model_cache_size() >= 1


def test_a_slow_load_does_not_block_a_loaded_model(counted_loads, tmp_path):
    loads, release = counted_loads
    inference.local_model("fast", None, tmp_path)
    slow = threading.Thread(target=inference.local_model, args=("slow", None, tmp_path))
    slow.start()
    deadline = time.monotonic() + 5
    while ("slow", None) not in loads and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    assert inference.local_model("fast", None, tmp_path) == ("tok-fast", "model-fast-None")
    assert time.monotonic() - started < 1.0  # answered while "slow" is still loading
    release.set()
    slow.join(5)
    assert not slow.is_alive()


def test_two_callers_of_one_model_load_it_once(counted_loads, tmp_path):
    loads, release = counted_loads
    got: list = []
    threads = [threading.Thread(target=lambda: got.append(
        inference.local_model("slow", None, tmp_path))) for _ in range(3)]
    for t in threads:
        t.start()
    time.sleep(0.2)
    release.set()
    for t in threads:
        t.join(5)
    assert loads == [("slow", None)]
    assert len(got) == 3 and len({id(g) for g in got}) == 1


def test_the_real_tiny_model_loads_through_the_cache(home):
    inference.forget_local_models()
    tok, model = inference.local_model("tiny", None, home)
    assert inference.local_model("tiny", None, home)[1] is model
    assert tok("hi")["input_ids"]
    inference.forget_local_models()


def test_two_processes_wanting_tiny_at_once_build_it_once(tmp_path):
    """Each process resolves `tiny` in a fresh FTUI_HOME; the file lock makes the second wait
    for the first one's folder instead of building its own."""
    import subprocess
    import sys

    code = ("import sys, ftui.train.base as b; from pathlib import Path; real = b._build_tiny\n"
            "def counted(t):\n    print('built', flush=True); real(t)\n"
            "b._build_tiny = counted\nb.resolve_base('tiny', Path(sys.argv[1]))\n")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path)],
                              stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sum(out.count("built") for out in outs) == 1
    assert (tmp_path / "models" / "tiny" / "config.json").is_file()
