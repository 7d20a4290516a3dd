"""`report_to` in the run config: TensorBoard event files in the run folder, read back with
TensorBoard's own reader; a missing package is refused with the command that installs it."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import pytest

from ftui.curate import DatasetSpec, build_dataset
from ftui.errors import FtuiError
from ftui.train import runs
from ftui.train.config import RunConfig, load_config
from ftui.train.worker import WorkerThread

FAST = dict(max_steps=4, batch_size=4, eval_steps=2, save_steps=4, max_seq_len=128,
            learning_rate=1e-3, logging_steps=1)


def test_report_to_is_validated_and_a_missing_package_names_its_install(monkeypatch):
    assert RunConfig().reporters == []
    assert RunConfig.from_dict({"report_to": "none"}).validate().reporters == []
    assert RunConfig.from_dict({"report_to": ["tensorboard", "mlflow", "tensorboard"]}
                               ).validate().reporters == ["tensorboard", "mlflow"]
    for bad in ("wandb", "tensorboard,comet", " ; rm -rf /", "TensorBoard"):
        with pytest.raises(FtuiError, match="report_to") as err:
            RunConfig.from_dict({"report_to": bad}).validate()
        assert "tensorboard, mlflow" in str(err.value)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "mlflow" else real(name, *a))
    with pytest.raises(FtuiError) as err:
        load_config(None, ["report_to=mlflow"])
    assert "mlflow package is not installed" in str(err.value)
    assert "pip install mlflow" in err.value.hint


@pytest.mark.skipif(importlib.util.find_spec("tensorboard") is None,
                    reason="tensorboard is an optional extra: pip install 'ftui[tensorboard]'")
def test_tiny_run_writes_loss_scalars_tensorboard_reads(demo_store, home):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    version, _, _ = build_dataset(demo_store, "tb", DatasetSpec(min_rating=4, val=0.1))
    config = RunConfig(**FAST, report_to=("tensorboard",)).validate()
    run = runs.create_run(demo_store, version.id, "tiny", config)
    worker = WorkerThread(demo_store, home)
    worker.start()
    worker.submit(run.id)
    try:
        deadline = time.monotonic() + 600
        while runs.get_run(demo_store, run.id).status not in ("completed", "failed"):
            assert time.monotonic() < deadline, "the run did not finish"
            time.sleep(0.1)
    finally:
        worker.stop_event.set()
        worker.join(timeout=10)
    final = runs.get_run(demo_store, run.id)
    assert final.status == "completed", final.error
    logdir = Path(final.output_dir) / "tensorboard"
    assert list(logdir.glob("events.out.tfevents.*")), list(logdir.iterdir())
    events = EventAccumulator(str(logdir))
    events.Reload()
    tags = events.Tags()["scalars"]
    assert "train/loss" in tags and "eval/loss" in tags, tags
    losses = events.Scalars("train/loss")
    assert [e.step for e in losses] == [1, 2, 3, 4]
    stored = dict(runs.metric_series(demo_store, run.id, "train_loss"))
    assert all(abs(e.value - stored[e.step]) < 1e-4 for e in losses)
