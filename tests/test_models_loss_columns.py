"""F4's table shows the training run's best eval loss and the evaluation's loss (`e`) in two
columns: one "eval loss" column silently switched from one to the other after `e`
(walkthrough 3, row 18)."""

from __future__ import annotations

import json

from ftui.screens.app import FtuiApp
from ftui.screens.models import ModelsScreen
from ui_wait import wait_for

from ftui import registry
from ftui.config import Settings
from ftui.store import RegisteredModel


def _set_metrics(store, model_id: int, metrics: dict) -> None:
    with store.session() as s:
        row = s.get(RegisteredModel, model_id)
        row.metrics_json = json.dumps(metrics)
        s.add(row)
        s.commit()


async def test_best_eval_and_evaluated_loss_are_two_columns(demo_store, tmp_path):
    store = demo_store  # (an empty store opens on a first-run screen)
    trained = registry.register(store, kind="ollama", name="trained", ollama_name="t:1").id
    evaluated = registry.register(store, kind="ollama", name="evaluated", ollama_name="e:1").id
    _set_metrics(store, trained, {"best_eval_loss": 6.323})
    _set_metrics(store, evaluated, {"best_eval_loss": 6.323, "eval_loss": 6.329})
    app = FtuiApp(store, Settings(home=tmp_path, database_url=store.url,
                                  ollama_host="http://127.0.0.1:9"))
    async with app.run_test(size=(160, 44)) as pilot:
        await pilot.press("f4")
        await wait_for(pilot, lambda: isinstance(app.screen, ModelsScreen), what="F4")
        table = app.screen.query_one("#model-table")
        await wait_for(pilot, lambda: table.row_count == 2, what="the rows")
        labels = [str(c.label) for c in table.columns.values()]
        assert "best eval" in labels and "eval loss" in labels, labels
        best, last = labels.index("best eval"), labels.index("eval loss")
        rows = {r[1].lstrip("▶ "): r for r in (table.get_row_at(i) for i in range(2))}
        assert (rows["trained"][best], rows["trained"][last]) == ("6.323", "-")
        assert (rows["evaluated"][best], rows["evaluated"][last]) == ("6.323", "6.329")
