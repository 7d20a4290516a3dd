"""F3's workers panel: hidden on a single box, it lists the workers sharing the store (state,
current run, GPUs) and says why the selected queued run waits."""

from __future__ import annotations

from ftui.screens.training import TrainingScreen
from sqlalchemy import insert
from test_training_screen import make_app, wait_until

from ftui.curate import DatasetSpec, build_dataset
from ftui.store import Worker, db_now
from ftui.train import runs
from ftui.train.config import RunConfig


def panel(app) -> str:
    return str(app.screen.query_one("#tr-workers").render())


async def test_the_workers_panel_lists_workers_and_why_a_run_waits(demo_store, tmp_path):
    version, _, _ = build_dataset(demo_store, "w", DatasetSpec(min_rating=4))
    done = runs.create_run(demo_store, version.id, "tiny", RunConfig(max_steps=5).validate())
    runs.update_run(demo_store, done.id, status="completed", step=5, total_steps=5)
    app = make_app(demo_store, tmp_path)
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.press("f3")
        await wait_until(pilot, lambda: isinstance(app.screen, TrainingScreen)
                         and "run " in str(app.screen.query_one("#run-header").render()),
                         what="the first read")
        workers = app.screen.query_one("#tr-workers")
        assert not workers.display  # one box, no worker: nothing to show
        with demo_store.engine.begin() as conn:
            conn.execute(insert(Worker.__table__).values(
                name="gpu-box-2:77", host="gpu-box-2", pid=77, status="training",
                started_at=db_now(), heartbeat_at=db_now(), gpu_count=1,
                gpu_kind="NVIDIA A100-SXM4-40GB", gpu_memory_mb=40960, current_run_id=done.id))
        waits = runs.create_run(demo_store, version.id, "tiny",
                                RunConfig(max_steps=5, gpus=4).validate())
        await wait_until(pilot, lambda: workers.display and "gpu-box-2:77" in panel(app),
                         what="the worker in the panel")
        assert f"training run {done.id}" in panel(app) and "1 GPU" in panel(app)
        app.screen.selected = waits.id
        app.screen.poll()
        await wait_until(pilot, lambda: "waiting: no live worker can serve it" in panel(app),
                         what="why the queued run waits")
        assert "needs 4 GPUs" in panel(app)
