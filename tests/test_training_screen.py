"""The Training screen through the Pilot: a run started from the form updates the live view."""

from __future__ import annotations

import time
from pathlib import Path

from ftui.screens.app import FtuiApp
from ftui.screens.training import NewRunDialog, TrainingScreen
from ftui.widgets.run_plots import downsample, smooth

from ftui.config import Settings
from ftui.curate import DatasetSpec, build_dataset
from ftui.train import runs


def test_downsample_and_smooth():
    points = [(i, float(i % 7)) for i in range(10_000)]
    small = downsample(points, 50)
    assert len(small) <= 100 and small[-1][0] == 9_999
    assert smooth([(0, 1.0), (1, 3.0)], alpha=0.5) == [(0, 1.0), (1, 2.0)]


async def test_new_run_from_the_form_trains_and_the_view_follows(demo_store, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    settings = Settings(home=home, database_url=demo_store.url)
    build_dataset(demo_store, "screen-set", DatasetSpec(min_rating=4))
    app = FtuiApp(demo_store, settings)
    async with app.run_test(size=(160, 44)) as pilot:
        await pilot.press("f3")
        await pilot.pause(0.3)
        assert isinstance(app.screen, TrainingScreen)
        await pilot.press("n")
        await pilot.pause(0.3)
        assert isinstance(app.screen, NewRunDialog)
        assert "steps" in str(app.screen.query_one("#estimate").render())
        await pilot.press("ctrl+s")
        deadline = time.monotonic() + 120
        run = None
        while time.monotonic() < deadline:
            await pilot.pause(0.3)
            items = runs.list_runs(demo_store)
            run = items[0] if items else None
            if run and run.status in ("completed", "failed"):
                break
        assert run is not None and run.status == "completed", run and run.error
        await pilot.pause(1.0)  # one refresh tick
        screen = app.screen
        header = str(screen.query_one("#run-header").render())
        assert f"run {run.id}" in header and "completed" in header and "adapter" in header
        assert screen._last_plot_step == run.step == 20
        assert Path(run.adapter_dir).is_dir()
        await pilot.press("c")  # cancelling a finished run is refused with a message, no crash
        await pilot.pause(0.2)
        assert runs.get_run(demo_store, run.id).status == "completed"


async def test_quitting_during_a_run_asks_then_stops_it_with_a_checkpoint(demo_store, tmp_path):
    from ftui.screens.dialogs import ConfirmDialog

    from ftui.train.config import RunConfig

    home = tmp_path / "home"
    home.mkdir()
    version, _, _ = build_dataset(demo_store, "quit-set", DatasetSpec(min_rating=4))
    app = FtuiApp(demo_store, Settings(home=home, database_url=demo_store.url))
    async with app.run_test(size=(120, 40)) as pilot:
        run = runs.create_run(demo_store, version.id, "tiny",
                              RunConfig(max_steps=100_000, save_steps=50, eval_steps=50,
                                        max_seq_len=256).validate())
        app.train_in_app(run.id)
        deadline = time.monotonic() + 120
        while runs.get_run(demo_store, run.id).step < 2 and time.monotonic() < deadline:
            await pilot.pause(0.1)
        await pilot.press("ctrl+q")
        await pilot.pause(0.3)
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("y")
        deadline = time.monotonic() + 120
        while app.is_running and time.monotonic() < deadline:
            await pilot.pause(0.1)
    stopped = runs.get_run(demo_store, run.id)
    assert stopped.status == "cancelled"
    assert (Path(stopped.output_dir) / f"checkpoint-{stopped.step}").is_dir()
