"""The Training screen through the Pilot: a run started from the form updates the live view; the
narrow layout, movement keys, marks, overlay, config diff, archive, cancel and pausing while
hidden. Every wait is for a condition."""

from __future__ import annotations

import time
from pathlib import Path

from ftui.screens.app import FtuiApp
from ftui.screens.dialogs import ConfirmDialog, TextDialog
from ftui.screens.training import NewRunDialog, TrainingScreen
from ftui.widgets.run_plots import LossPlot, downsample, integer_ticks, smooth
from ui_wait import wait_for_footer

from ftui.config import Settings
from ftui.curate import DatasetSpec, build_dataset
from ftui.train import runs
from ftui.train.config import RunConfig


async def wait_until(pilot, check, timeout: float = 20.0, what: str = "a condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


def header(app) -> str:
    return str(app.screen.query_one("#run-header").render())


def fake_runs(store, n: int = 3) -> list[int]:
    """Finished runs with a loss curve each, without training (the view is what is tested)."""
    version, _, _ = build_dataset(store, "view-set", DatasetSpec(min_rating=4))
    ids = []
    for i in range(n):
        run = runs.create_run(store, version.id, "tiny",
                              RunConfig(max_steps=5, learning_rate=1e-4 * (i + 1)).validate())
        for step in range(1, 6):
            runs.write_metrics(store, run.id, step, {"train_loss": 3.0 - 0.1 * step - 0.2 * i,
                                                     "learning_rate": 1e-4})
        runs.update_run(store, run.id, status="completed", step=5, total_steps=5)
        ids.append(run.id)
    return ids


def make_app(store, tmp_path) -> FtuiApp:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return FtuiApp(store, Settings(home=home, database_url=store.url))


def test_downsample_smooth_and_whole_step_ticks():
    points = [(i, float(i % 7)) for i in range(10_000)]
    small = downsample(points, 50)
    assert len(small) <= 100 and small[-1][0] == 9_999
    assert smooth([(0, 1.0), (1, 3.0)], alpha=0.5) == [(0, 1.0), (1, 2.0)]
    assert integer_ticks([1, 2, 3, 4, 5], 60) == [1, 2, 3, 4, 5]  # never 2.5 on a short run
    ticks = integer_ticks(list(range(0, 10_001)), 60)
    assert all(isinstance(t, int) for t in ticks) and 3 <= len(ticks) <= 12


async def test_narrow_layout_keeps_the_plot_readable_and_the_panels_whole(demo_store, tmp_path):
    fake_runs(demo_store, 2)
    app = make_app(demo_store, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f3")
        await wait_until(pilot, lambda: isinstance(app.screen, TrainingScreen)
                         and "run " in header(app), what="the first read")
        screen = app.screen
        assert screen.has_class("-narrow")
        loss = screen.query_one(LossPlot)
        await wait_until(pilot, lambda: loss.size.width >= 70,  # was one or two characters wide
                         what="the narrow layout")
        view = screen.query_one("#tr-view")
        for wid in ("#tr-gpu", "#tr-log"):
            panel = screen.query_one(wid)
            assert panel.size.width >= 70, wid  # whole width, not cut off
            panel.scroll_visible(animate=False)
            await pilot.pause()
            region = panel.region
            assert region.right <= 80 and region.y >= view.region.y, wid
        assert "GPU n/a" in str(screen.query_one("#tr-gpu").render())
        assert "NVMLError" not in str(screen.query_one("#tr-gpu").render())
        # the important keys fit
        await wait_for_footer(pilot, {"n", "c", "p", "r", "space", "d"}, 80, by="key")


async def test_movement_marks_overlay_and_config_diff(demo_store, tmp_path):
    ids = fake_runs(demo_store, 3)  # newest first in the table: ids[2], ids[1], ids[0]
    app = make_app(demo_store, tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("f3")
        await wait_until(pilot, lambda: isinstance(app.screen, TrainingScreen)
                         and app.screen.selected == ids[2], what="the newest run")
        screen = app.screen
        await pilot.press("j")
        await wait_until(pilot, lambda: screen.selected == ids[1], what="j")
        await pilot.press("G")
        await wait_until(pilot, lambda: screen.selected == ids[0], what="G")
        await pilot.press("k")
        await wait_until(pilot, lambda: screen.selected == ids[1], what="k")
        await pilot.press("g")
        await wait_until(pilot, lambda: screen.selected == ids[2], what="g")
        await pilot.press("end")
        await wait_until(pilot, lambda: screen.selected == ids[0], what="end")
        await pilot.press("home")
        await wait_until(pilot, lambda: screen.selected == ids[2], what="home")
        await pilot.press("space", "j", "space")
        assert screen.marked == [ids[2], ids[1]]
        await wait_until(pilot, lambda: screen._plotted == (ids[1], 5, (ids[2], ids[1])),
                         what="the overlay")
        rendered = str(screen.query_one(LossPlot).render())
        assert f"run {ids[2]}" in rendered and f"run {ids[1]}" in rendered
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, TextDialog), what="the diff")
        body = app.screen.body
        assert "learning_rate" in body and "0.0003" in body and "0.0002" in body
        assert "max_steps" not in body  # the same in both: not listed
        await pilot.press("escape")


async def test_archive_hides_a_run_and_cancel_says_cancelling_at_once(demo_store, tmp_path):
    ids = fake_runs(demo_store, 2)
    version = runs.get_run(demo_store, ids[0]).dataset_id
    live = runs.create_run(demo_store, version, "tiny", RunConfig(max_steps=50).validate())
    runs.update_run(demo_store, live.id, status="running", step=3, total_steps=50,
                    heartbeat_at=runs.utcnow())
    app = make_app(demo_store, tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("f3")
        await wait_until(pilot, lambda: isinstance(app.screen, TrainingScreen)
                         and app.screen.selected == live.id, what="the running run")
        screen = app.screen
        await pilot.press("c")
        # no tick in between: the key itself shows it
        assert "cancelling" in header(app)
        await wait_until(pilot, lambda: runs.get_run(demo_store, live.id).cancel_requested,
                         what="the request in the store")
        await pilot.press("j")
        await wait_until(pilot, lambda: screen.selected == ids[1], what="j")
        await pilot.press("a")
        await wait_until(pilot, lambda: ids[1] not in screen._row_ids, what="archived hidden")
        assert runs.get_run(demo_store, ids[1]).status == "archived"
        await pilot.press("A")
        await wait_until(pilot, lambda: ids[1] in screen._row_ids, what="archived shown")
        screen.selected = ids[1]
        await pilot.press("a")  # restores the status it had
        await wait_until(pilot, lambda: runs.get_run(demo_store, ids[1]).status == "completed",
                         what="restored")
        if hasattr(runs, "delete_run"):
            screen.selected = ids[0]
            await pilot.press("x")
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="ask")
            await pilot.press("y")
            await wait_until(pilot, lambda: ids[0] not in screen._row_ids, what="deleted")


async def test_hidden_training_screen_stops_polling(demo_store, tmp_path):
    fake_runs(demo_store, 1)
    app = make_app(demo_store, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f3")
        await wait_until(pilot, lambda: isinstance(app.screen, TrainingScreen)
                         and app.screen.polls >= 2, what="polling while visible")
        training = app.screen
        await pilot.press("f1")
        await wait_until(pilot, lambda: not training.is_current and not any(
            w.group == "training-poll" and not w.is_finished for w in app.workers),
            what="leaving F3 and the last read to end")
        before = training.polls
        await pilot.pause(1.6)  # three refresh periods: a visible screen would poll 3 times
        assert training.polls == before
        await pilot.press("f3")
        await wait_until(pilot, lambda: training.polls > before, what="polling again")


async def test_new_run_from_the_form_trains_and_the_view_follows(demo_store, tmp_path):
    build_dataset(demo_store, "screen-set", DatasetSpec(min_rating=4))
    app = make_app(demo_store, tmp_path)
    async with app.run_test(size=(160, 44)) as pilot:
        await pilot.press("f3")
        await wait_until(pilot, lambda: isinstance(app.screen, TrainingScreen), what="F3")
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, NewRunDialog), what="the form")
        await wait_until(pilot, lambda: "steps" in str(app.screen.query_one("#estimate")
                                                       .render()), what="the estimate")
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: (runs.list_runs(demo_store) or [None])[0] is not None
                         and runs.list_runs(demo_store)[0].status in ("completed", "failed"),
                         timeout=300, what="the run to end")
        run = runs.list_runs(demo_store)[0]
        assert run.status == "completed", run.error
        screen = app.screen
        await wait_until(pilot, lambda: "completed" in header(app) and "adapter" in header(app),
                         what="the view to follow")
        assert f"run {run.id}" in header(app)
        await wait_until(pilot, lambda: screen._plotted == (run.id, 20, ()), what="the plots")
        assert Path(run.adapter_dir).is_dir()
        await pilot.press("c")  # cancelling a finished run is refused with a message, no crash
        await pilot.pause()
        assert runs.get_run(demo_store, run.id).status == "completed"


async def test_quitting_during_a_run_asks_then_stops_it_with_a_checkpoint(demo_store, tmp_path):
    version, _, _ = build_dataset(demo_store, "quit-set", DatasetSpec(min_rating=4))
    app = make_app(demo_store, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        run = runs.create_run(demo_store, version.id, "tiny",
                              RunConfig(max_steps=100_000, save_steps=50, eval_steps=50,
                                        max_seq_len=256).validate())
        app.train_in_app(run.id)
        await wait_until(pilot, lambda: runs.get_run(demo_store, run.id).step >= 2,
                         timeout=120, what="two steps")
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the ask")
        await pilot.press("y")
        await wait_until(pilot, lambda: not app.is_running, timeout=120, what="the app to stop")
    stopped = runs.get_run(demo_store, run.id)
    assert stopped.status == "cancelled"
    assert (Path(stopped.output_dir) / f"checkpoint-{stopped.step}").is_dir()


def test_gguf_conversion_reports_progress_instead_of_a_bar(tmp_path):
    import pytest
    import transformers.modeling_gguf_pytorch_utils as gguf_utils

    from ftui.errors import FtuiError
    from ftui.train.base import _load_gguf

    lines: list[str] = []
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"not a gguf file")
    with pytest.raises(FtuiError):  # a clear refusal; the converter is wired all the same
        _load_gguf(bad, lines.append, "de-quantizing the demo model (first time only)")
    tensors = list(range(30))
    assert list(gguf_utils.tqdm(tensors, desc="Converting...")) == tensors  # no bar, same items
    assert len(lines) == 10 and lines[-1].endswith("100% (30/30 tensors)")
    assert lines[0].startswith("de-quantizing the demo model (first time only): 10%")


async def test_a_starting_run_says_what_it_is_doing(demo_store, tmp_path):
    ids = fake_runs(demo_store, 1)
    version = runs.get_run(demo_store, ids[0]).dataset_id
    run = runs.create_run(demo_store, version, "demo", RunConfig(max_steps=5).validate())
    runs.update_run(demo_store, run.id, status="running", heartbeat_at=runs.utcnow())
    runs.log(demo_store, run.id, "de-quantizing the demo model (first time only): 40% "
                                 "(108/272 tensors)")
    app = make_app(demo_store, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f3")
        await wait_until(pilot, lambda: isinstance(app.screen, TrainingScreen)
                         and "40%" in header(app), what="the loading line")
        assert "first time only" in header(app)


def test_the_in_app_worker_trains_below_the_ui_priority(store, tmp_path):
    import os

    import pytest

    from ftui.train.worker import WorkerThread

    if not hasattr(os, "getpriority"):
        pytest.skip("no per-thread priorities on this platform")
    ui_priority = os.getpriority(os.PRIO_PROCESS, 0)  # 10 already under `nice`
    worker = WorkerThread(store, tmp_path)
    worker.start()
    try:
        deadline = time.monotonic() + 10
        while (worker.native_id is None or os.getpriority(os.PRIO_PROCESS, worker.native_id)
               < 10) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert os.getpriority(os.PRIO_PROCESS, worker.native_id) >= 10
        assert os.getpriority(os.PRIO_PROCESS, 0) == ui_priority  # the UI thread keeps its own
    finally:
        worker.stop_event.set()
        worker.join(timeout=10)


async def test_wide_runs_list_shows_every_column(demo_store, tmp_path):
    fake_runs(demo_store, 1)
    app = make_app(demo_store, tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("f3")
        await wait_until(pilot, lambda: isinstance(app.screen, TrainingScreen)
                         and app.screen.selected is not None, what="a run")
        await pilot.pause()
        table = app.screen.query_one("#run-table")
        labels = [str(c.label) for c in table.columns.values()]
        assert labels[-1] == "took"
        needed = sum(c.get_render_width(table) for c in table.columns.values())
        assert needed <= table.scrollable_content_region.width, (needed, table.size)
