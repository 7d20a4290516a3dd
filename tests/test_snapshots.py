"""Snapshot tests (pytest-textual-snapshot): every section screen, the help and the main dialogs at
80x24 and 160x48, in the dark and the light theme, on the demo data (plus datasets, runs, models
and an experiment with outcomes). SVGs live in tests/__snapshots__/test_snapshots/.

What changes from run to run is fixed: every stored time is rewritten to a fixed calendar, "now"
is a fixed moment, the GPU/host readings are canned, Ollama is a closed port, cursors do not
blink and toasts are cleared before the picture. One store serves every test (read only).

A screen changed on purpose: look at the diff (the HTML report pytest prints), then
`pytest tests/test_snapshots.py -k NAME --snapshot-update` and commit the new SVG with the change.
"""

from __future__ import annotations

import random
from datetime import datetime
from pathlib import Path

import pytest
from ftui.screens.app import FtuiApp
from sqlalchemy import DateTime, text
from sqlmodel import SQLModel
from ui_wait import wait_for

from ftui import ab, registry
from ftui.ab.experiments import arm_for
from ftui.config import Settings
from ftui.curate import DatasetSpec, build_dataset
from ftui.demo import load_demo
from ftui.store import open_store
from ftui.telemetry import GpuStat, HostStat
from ftui.train import runs
from ftui.train.config import RunConfig

NOW = datetime(2026, 11, 25, 12, 0, 0)  # "now" for every screen
SIZES = {"80x24": (80, 24), "160x48": (160, 48)}
THEMES = {"dark": "textual-dark", "light": "textual-light"}
CLOSED_PORT = "http://127.0.0.1:9"  # Ollama: connection refused at once
HOME = Path("/tmp/ftui-snapshots-home")  # screens show paths in it: the same on every run


# ---------------------------------------------------------------- one store for every test


def _fixed_times(store) -> None:
    """Every time column of every table on a fixed calendar, in the rows' own order (later
    columns of a row a little later: started before finished)."""
    with store.engine.begin() as conn:
        for table in SQLModel.metadata.sorted_tables:
            columns = [c.name for c in table.columns if isinstance(c.type, DateTime)]
            for i, col in enumerate(columns):
                conn.execute(text(
                    f'UPDATE "{table.name}" SET "{col}" = datetime(\'2026-11-20 09:00:00\', '
                    f"'+' || (rowid * 7 + {i * 3}) || ' minutes') WHERE \"{col}\" IS NOT NULL"))


def _seed(store) -> None:
    load_demo(store)
    five, _, _ = build_dataset(store, "five-stars", DatasetSpec(min_rating=5))
    four, _, _ = build_dataset(store, "four-plus", DatasetSpec(min_rating=4))
    for i, (status, steps) in enumerate((("completed", 40), ("completed", 25), ("failed", 8))):
        run = runs.create_run(store, (five if i else four).id, "tiny",
                              RunConfig(max_steps=40, learning_rate=2e-4 / (i + 1)).validate())
        for step in range(1, steps + 1):
            runs.write_metrics(store, run.id, step, {
                "train_loss": 2.8 - 0.9 * step / 40 - 0.1 * i + 0.05 * (step % 3),
                "learning_rate": 2e-4 * (1 - step / 40)})
            if step % 10 == 0:
                runs.write_metrics(store, run.id, step, {"eval_loss": 2.7 - 0.8 * step / 40})
        runs.update_run(store, run.id, status=status, step=steps, total_steps=40,
                        started_at=NOW, finished_at=NOW,  # both rewritten by _fixed_times
                        error="CUDA out of memory (demo)" if status == "failed" else None)
    base = registry.register(store, kind="ollama", name="llama3.2:3b",
                             ollama_name="llama3.2:3b", notes="the base")
    registry.set_stage(store, base.id, "production", "general")
    registry.register(store, kind="ollama", name="tuned-v1", ollama_name="tuned:1",
                      base_model="llama3.2:3b", notes="from run 1")
    registry.register(store, kind="ollama", name="coder", ollama_name="coder:7b")
    exp = ab.create_experiment(store, name="tuned-vs-base", alias="assistant",
                               model_a="llama3.2:3b", model_b="tuned:1", salt="snap",
                               min_samples=20)
    ab.set_status(store, exp.id, "running")
    rng = random.Random(7)
    for i in range(160):
        unit = f"user{i}"
        better = arm_for("snap", unit, 0.5) == "B"
        ab.log_outcome(store, exp.id, unit, None, latency=180.0 + rng.randint(0, 120),
                       rating=rng.choice([4, 5, 5, 3] if better else [3, 4, 2, 3]))
    _fixed_times(store)


@pytest.fixture(scope="module")
def snap_store(tmp_path_factory):
    store = open_store(f"sqlite:///{tmp_path_factory.mktemp('snapshots') / 'ftui.db'}")
    _seed(store)
    yield store
    store.close()


@pytest.fixture
def fixed_world(monkeypatch, tmp_path):
    """Now, the telemetry readings and the monitoring timer, fixed; $FTUI_HOME a fixed path
    whose remembered UI state is this test's own (tests may run side by side)."""
    import ftui.screens.app

    from ftui.uistate import UiState

    monkeypatch.setattr(ftui.screens.app, "UiState", lambda _home: UiState(tmp_path))
    import ftui.screens.monitoring
    import ftui.screens.training
    from ftui.widgets.gpu_panel import HostReading

    import ftui.monitoring

    class FrozenDatetime(datetime):
        @classmethod
        def now(cls, tz=None):
            return NOW

    reading = HostReading(
        gpus=[GpuStat(0, "NVIDIA H100 80GB HBM3", 87.0, 41_250.0, 81_559.0, 64.0, 512.0,
                      700.0, 38_400.0)],
        host=HostStat(cpu_pct=23.0, ram_used_mb=48_128.0, ram_total_mb=128_000.0,
                      process_rss_mb=1_834.0))
    monkeypatch.setattr(ftui.screens.training, "read_host", lambda: reading)
    monkeypatch.setattr(ftui.screens.training, "utcnow", lambda: NOW)
    monkeypatch.setattr(ftui.screens.monitoring, "datetime", FrozenDatetime)
    monkeypatch.setattr(ftui.monitoring, "utcnow", lambda: NOW)


# ---------------------------------------------------------------- views


def _screen(name: str):
    return lambda app: type(app.screen).__name__ == name


async def _visit(pilot, key: str, ready) -> None:
    await pilot.press(key)
    await wait_for(pilot, lambda: ready(pilot.app), timeout=20, what=f"view after {key}")


def _rows(widget_id: str):
    return lambda app: app.screen.query(f"#{widget_id}") and \
        app.screen.query_one(f"#{widget_id}").row_count > 0


def _both(*checks):
    return lambda app: all(check(app) for check in checks)


def _gate_refused(app) -> None:
    from ftui.screens.promote_dialog import GateRefusedDialog

    def fig(name, cand, inc, passed, rule):
        return {"name": name, "candidate": cand, "incumbent": inc, "passed": passed,
                "line": f"{name}: candidate {cand}, incumbent {inc}, {rule}"}

    result = {
        "candidate": {"id": 2, "name": "tuned-v1"},
        "incumbent": {"name": "llama3.2:3b", "why": "production in general"},
        "slot": "general", "failed": ["harmful requests refused"],
        "figures": [fig("validation ROUGE-L", "0.412", "0.388", True, "at least 0.338 (-0.05)"),
                    fig("general accuracy", "0.71", "0.73", True, "at least 0.68 (-0.05)"),
                    fig("harmful requests refused", "0.62", "0.95", False,
                        "at least 0.85 (-0.1)")],
        "notes": ["judge: skipped, none configured (judge = \"MODEL\" in config.toml)"]}
    app.push_screen(GateRefusedDialog("promote tuned-v1 to production in general", result))


# name -> (section key, ready check, keys pressed there, ready check after them)
VIEWS = {
    "f1_interactions": ("f1", _both(_screen("InteractionsScreen"),
                                    lambda app: app.screen.list.rows), (), None),
    "f2_datasets": ("f2", _both(_screen("DatasetsScreen"), _rows("versions"),
                                lambda app: app.screen.result is not None), (), None),
    "f3_training": ("f3", _both(_screen("TrainingScreen"), _rows("run-table")), (), None),
    "f4_models": ("f4", _both(_screen("ModelsScreen"), _rows("model-table")), (), None),
    "f5_experiments": ("f5", _both(_screen("ExperimentsScreen"),
                                   lambda app: app.screen.shown_report is not None), (), None),
    "f6_playground": ("f6", _screen("PlaygroundScreen"), (), None),
    "help": ("f4", _both(_screen("ModelsScreen"), _rows("model-table")), ("question_mark",),
             _screen("HelpScreen")),
    "filter_dialog": ("f1", _both(_screen("InteractionsScreen"),
                                  lambda app: app.screen.list.rows), ("f",),
                      _screen("FilterDialog")),
    "correction_dialog": ("f1", _both(_screen("InteractionsScreen"),
                                      lambda app: app.screen.list.rows), ("e",),
                          _screen("CorrectionDialog")),
    "new_run_dialog": ("f3", _both(_screen("TrainingScreen"), _rows("run-table")), ("n",),
                       _screen("NewRunDialog")),
    "evaluate_dialog": ("f4", _both(_screen("ModelsScreen"), _rows("model-table")), ("e",),
                        _screen("EvaluateDialog")),
    "new_experiment_dialog": ("f5", _both(_screen("ExperimentsScreen"),
                                          lambda app: app.screen.shown_report is not None),
                              ("n",), _screen("NewExperimentDialog")),
    "gate_refused_dialog": ("f4", _both(_screen("ModelsScreen"), _rows("model-table")),
                            (_gate_refused,), _screen("GateRefusedDialog")),
}


def _extra_sections() -> dict:
    """Sections added since (F7, F8, ...): their first paint once their workers are done."""
    from ftui.widgets.section_bar import SECTIONS

    known = {"interactions", "datasets", "training", "models", "experiments", "playground"}
    return {f"{key.lower()}_{mode}": (key.lower(), _screen(FtuiApp.MODES[mode].__name__), (),
                                      None)
            for mode, key, _ in SECTIONS if mode not in known and mode in FtuiApp.MODES}


ALL_VIEWS = {**VIEWS, **_extra_sections()}


def _tables_measured(app) -> bool:
    """DataTables measure their columns when idle: a picture taken before that shows them at
    their headers' width (a busy machine made that flaky)."""
    return not any(t._require_update_dimensions or t._updated_cells
                   for screen in (*app.screen_stack, app.screen)
                   for t in screen.query("DataTable"))


async def _steady(pilot, tries: int = 40) -> None:
    """Until two pictures in a row are the same: a table measured or a layout refreshed after
    the conditions above held still changes the picture (a busy machine made that flaky)."""
    previous = None
    for _ in range(tries):
        await pilot.pause(0.05)
        picture = pilot.app.export_screenshot()
        if picture == previous:
            return
        previous = picture
    raise AssertionError("the screen kept changing")


def _still(app) -> None:
    """Nothing that blinks or fades: cursors steady, toasts gone."""
    for screen in (*app.screen_stack, app.screen):
        for widget in screen.query("Input, TextArea"):
            widget.cursor_blink = False
    app.clear_notifications()


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("view", ALL_VIEWS)
def test_snapshot(view, size, theme, snap_store, fixed_world, tmp_path, snap_compare):
    from ftui.widgets.section_bar import SECTIONS

    from ftui.uistate import UiState

    key, ready, presses, after = ALL_VIEWS[view]
    # start on the section itself (as a remembered tab): building F1 first would only cost time
    UiState(tmp_path).set("mode", next(m for m, k, _ in SECTIONS if k.lower() == key))
    HOME.mkdir(exist_ok=True)
    app = FtuiApp(snap_store, Settings(home=HOME, database_url=snap_store.url,
                                       ollama_host=CLOSED_PORT))

    async def run_before(pilot) -> None:
        pilot.app.theme = THEMES[theme]
        await _visit(pilot, key, ready)
        for press in presses:
            if callable(press):
                press(pilot.app)
            else:
                await pilot.press(press)
        if after is not None:
            await wait_for(pilot, lambda: after(pilot.app), timeout=20, what=view)
        await pilot.app.workers.wait_for_complete()
        await wait_for(pilot, lambda: _tables_measured(pilot.app), what="tables measured")
        # every view focuses a field or a table once mounted: a picture before that misses the
        # cursor (a busy machine made that flaky too)
        await wait_for(pilot, lambda: pilot.app.screen.is_mounted
                       and pilot.app.screen.focused is not None, what="the focus")
        _still(pilot.app)
        await _steady(pilot)

    assert snap_compare(app, run_before=run_before, terminal_size=SIZES[size])


def test_every_section_has_a_snapshot():
    """A section added to the app gets its snapshots here without editing this file."""
    from ftui.widgets.section_bar import SECTIONS

    shown = {v[0] for v in ALL_VIEWS.values()}
    assert {key.lower() for mode, key, _ in SECTIONS if mode in FtuiApp.MODES} <= shown
