"""Models screen and Playground through the Pilot, against the stand-in Ollama on 127.0.0.1."""

from __future__ import annotations

import asyncio
import time

from ftui.screens.app import FtuiApp
from ftui.screens.dialogs import PickDialog, TextInputDialog
from ftui.screens.models import ModelsScreen
from ftui.screens.playground import PlaygroundScreen
from ollama_standin import StandIn
from ui_wait import wait_for_footer

from ftui import registry
from ftui.config import Settings
from ftui.store import interactions


async def wait_until(pilot, check, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        await pilot.pause(0.05)


async def test_promote_in_a_slot_demotes_the_previous_one(demo_store, tmp_path):
    """Both answer alike, so the regression gate (run against the stand-in) passes."""
    store = demo_store
    old = registry.register(store, kind="ollama", name="old", ollama_name="old:1")
    new = registry.register(store, kind="ollama", name="new", ollama_name="new:1")
    registry.set_stage(store, old.id, "production", "programming")
    with StandIn(models={"old:1": "Paris.", "new:1": "Paris."}) as server:
        app = FtuiApp(store, Settings(home=tmp_path, database_url=store.url,
                                      ollama_host=server.url,
                                      extra={"gate": {"general_items": 4}}))
        async with app.run_test(size=(160, 44)) as pilot:
            await pilot.press("f4")
            await wait_until(pilot, lambda: isinstance(app.screen, ModelsScreen)
                             and app.screen.selected is not None)
            screen = app.screen
            assert screen.selected == new.id  # newest first
            await pilot.press("p")
            await wait_until(pilot, lambda: isinstance(app.screen, TextInputDialog))
            dialog = app.screen
            assert "old is production there" not in str(dialog.hint)  # new's slot: general
            dialog.query_one("Input").value = "programming"
            await pilot.press("enter")
            await wait_until(pilot, lambda: registry.get_model(store, new.id).stage
                             == "production")
            await wait_until(pilot, lambda: "production" in str(
                screen.query_one("#model-info").render()))
    assert registry.get_model(store, new.id).stage == "production"
    assert registry.get_model(store, new.id).slot == "programming"
    assert registry.get_model(store, old.id).stage == "staging"
    assert "gate passed against old" in registry.history(store, new.id)[-1].note


async def test_register_from_ollama_list_then_chat_and_rate_in_place(demo_store, tmp_path):
    store = demo_store
    with StandIn(models={"llama3.2:3b": "Paris is the capital of France."}) as server:
        settings = Settings(home=tmp_path, database_url=store.url, ollama_host=server.url)
        app = FtuiApp(store, settings)
        async with app.run_test(size=(160, 44)) as pilot:
            await pilot.press("f4")
            await wait_until(pilot, lambda: isinstance(app.screen, ModelsScreen))
            await pilot.press("o")
            await wait_until(pilot, lambda: isinstance(app.screen, PickDialog))
            await pilot.press("enter")  # the one model Ollama has
            await wait_until(pilot, lambda: registry.list_models(store))
            model = registry.list_models(store)[0]
            assert (model.kind, model.ollama_name) == ("ollama", "llama3.2:3b")
            await pilot.press("t")  # chat with it
            await wait_until(pilot, lambda: isinstance(app.screen, PlaygroundScreen)
                             and app.screen.query_one("#play-model").value == str(model.id))
            screen = app.screen
            screen.query_one("#play-mode").value = "chain_of_thought"
            screen.query_one("#prompt").focus()
            await pilot.press(*"Why is Paris the capital?")
            await pilot.press("enter")
            await wait_until(pilot, lambda: screen.turns and screen.turns[-1].interaction_id)
            await wait_until(pilot, lambda: not screen.busy)
            turn = screen.turns[-1]
            assert turn.answer == "Paris is the capital of France."
            await pilot.press("4")
            await wait_until(pilot, lambda: "★★★★" in str(turn.meta()))
            assert "chain_of_thought" in str(turn.meta())
            sent = [b for m, p, b in server.requests if p == "/api/chat"][-1]
            assert sent["messages"][0]["role"] == "system"  # the mode's prompt went along
            await asyncio.sleep(0)
    logged = interactions.get(store, turn.interaction_id)
    assert logged.source == "playground" and logged.rating == 4
    assert logged.reasoning_mode == "chain_of_thought" and logged.model == "llama3.2:3b"
    assert [m["role"] for m in logged.messages] == ["user", "assistant"]


def _models_app(store, tmp_path, host: str = "http://127.0.0.1:9") -> FtuiApp:
    return FtuiApp(store, Settings(home=tmp_path, database_url=store.url, ollama_host=host))


async def test_narrow_models_keep_the_slot_column_and_the_keys(demo_store, tmp_path):
    for i in range(3):
        registry.register(demo_store, kind="ollama", name=f"a-rather-long-model-name-{i}",
                          ollama_name=f"m{i}:1")
    app = _models_app(demo_store, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f4")
        await wait_until(pilot, lambda: isinstance(app.screen, ModelsScreen))
        screen = app.screen
        assert screen.has_class("-narrow")
        table = screen.query_one("#model-table")
        right = 0
        for column in table.columns.values():
            right += column.get_render_width(table)
            if str(column.label) == "slot":
                break
        assert right <= table.size.width <= 80  # the slot column is in view, not cut
        await wait_for_footer(pilot, {"e", "p", "D", "t"}, 80, by="key")


async def test_movement_keys_in_the_models_table_and_detail(demo_store, tmp_path):
    ids = [registry.register(demo_store, kind="ollama", name=f"m{i}", ollama_name=f"m{i}:1").id
           for i in range(4)]  # newest first in the table
    app = _models_app(demo_store, tmp_path)
    async with app.run_test(size=(160, 44)) as pilot:
        await pilot.press("f4")
        await wait_until(pilot, lambda: isinstance(app.screen, ModelsScreen))
        screen = app.screen
        assert screen.selected == ids[3]
        for key, expect in (("j", ids[2]), ("G", ids[0]), ("k", ids[1]), ("g", ids[3]),
                            ("end", ids[0]), ("home", ids[3])):
            await pilot.press(key)
            await wait_until(pilot, lambda e=expect: screen.selected == e)
        detail = screen.query_one("#model-detail")
        detail.focus()
        await pilot.press("j")  # a key the pane takes: no crash, stays focused
        assert app.focused is detail


async def test_detail_has_no_raw_dict_nor_scientific_latency(demo_store, tmp_path):
    from ftui.store import RegisteredModel

    m = registry.register(demo_store, kind="ollama", name="shown", ollama_name="shown:1")
    with demo_store.session() as s:
        row = s.get(RegisteredModel, m.id)
        row.metrics_json = __import__("json").dumps({
            "deployed": {"ollama_name": "ftui-shown", "mode": "adapter", "from": "smollm2:135m"},
            "eval": {"dataset_id": 1, "split": "validation", "examples": 20,
                     "latency_ms_p50": 13270.4, "rouge_l": 0.41234, "exact_match": 0.25}})
        s.add(row)
        s.commit()
    app = _models_app(demo_store, tmp_path)
    async with app.run_test(size=(160, 44)) as pilot:
        await pilot.press("f4")
        await wait_until(pilot, lambda: isinstance(app.screen, ModelsScreen))
        text = str(app.screen.query_one("#model-info").render())
        assert "{" not in text and "e+0" not in text
        assert "13.3 s" in text and "ftui-shown" in text and "25%" in text


async def test_evaluate_from_a_dialog_shows_progress_and_cancels(demo_store, tmp_path):
    from ftui.screens.evaluate_dialog import EvaluateDialog

    from ftui.curate import DatasetSpec, build_dataset

    version, _, _ = build_dataset(demo_store, "eval-set", DatasetSpec(min_rating=4, val=0.3))
    # slow enough that 29 answers, 4 at a time (evaluation's default), leave time for esc
    with StandIn(models={"slow:1": "Paris."}, slow={"slow:1": 0.8}) as server:
        m = registry.register(demo_store, kind="ollama", name="slow", ollama_name="slow:1")
        app = _models_app(demo_store, tmp_path, server.url)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("f4")
            await wait_until(pilot, lambda: isinstance(app.screen, ModelsScreen))
            screen = app.screen
            await pilot.press("e")  # an Ollama model: a dialog, not a CLI flag
            await wait_until(pilot, lambda: isinstance(app.screen, EvaluateDialog))
            dialog = app.screen
            assert dialog.query_one("#ev-dataset").value == version.id
            dialog.query_one("#ev-limit").value = "3"
            dialog.query_one("#ev-tokens").value = "16"
            await pilot.press("ctrl+s")
            await wait_until(pilot, lambda: screen.evaluating is None, timeout=60)
            ev = registry.get_model(demo_store, m.id).metrics["eval"]
            assert ev["examples"] == 3 and ev["dataset_id"] == version.id
            sent = [b for _, p, b in server.requests if p == "/api/chat"]
            assert sent and all(b["options"]["num_predict"] == 16 for b in sent)
            # a longer one, stopped with esc: "cancelling" at once, then nothing stored
            await pilot.press("e")
            await wait_until(pilot, lambda: isinstance(app.screen, EvaluateDialog))
            app.screen.query_one("#ev-limit").value = "50"
            await pilot.press("ctrl+s")
            await wait_until(pilot, lambda: "1/" in str(screen.query_one("#eval-status")
                                                         .render()), timeout=30)
            assert "ETA" in str(screen.query_one("#eval-status").render())
            await pilot.press("escape")
            assert "cancelling" in str(screen.query_one("#eval-status").render())
            await wait_until(pilot, lambda: screen.evaluating is None, timeout=30)
            assert registry.get_model(demo_store, m.id).metrics["eval"]["examples"] == 3
            log = "\n".join(str(line) for line in screen.query_one("#model-activity").lines)
            assert "cancelled" in log


async def test_playground_lists_each_mode_once(demo_store, tmp_path):
    app = _models_app(demo_store, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f6")
        await wait_until(pilot, lambda: isinstance(app.screen, PlaygroundScreen))
        from ftui.screens.playground import MODE_OPTIONS

        assert app.screen.query_one("#play-mode").value == "auto"
        values = [value for _, value in MODE_OPTIONS]  # what the mode picker is built from
        assert values.count("auto") == 1 and values[0] == "auto"
        assert sorted(values) == sorted(set(values))
        assert app.screen.query_one("#play-model").region.right <= 80


async def test_evaluate_dialog_drawn_with_labels_beside_fields_after_resize(demo_store, tmp_path):
    from ftui.screens.evaluate_dialog import EvaluateDialog

    from ftui.curate import DatasetSpec, build_dataset

    build_dataset(demo_store, "eval-set", DatasetSpec(min_rating=4, val=0.3))
    registry.register(demo_store, kind="ollama", name="slow", ollama_name="slow:1")
    app = _models_app(demo_store, tmp_path, "http://127.0.0.1:9")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f4")
        await wait_until(pilot, lambda: isinstance(app.screen, ModelsScreen))
        await pilot.resize_terminal(160, 48)  # as in the walkthrough: resized, then `e`
        await pilot.pause()
        await pilot.press("e")
        await wait_until(pilot, lambda: isinstance(app.screen, EvaluateDialog))
        await pilot.pause()
        dialog = app.screen
        assert dialog.query_one("#eval-dialog").region.height >= 10  # drawn
        for field in ("#ev-dataset", "#ev-split", "#ev-limit", "#ev-tokens"):
            widget = dialog.query_one(field)
            label = widget.parent.query_one(".form-label")
            assert label.region.y == widget.region.y and label.region.height == 1
            assert label.region.width >= len(str(label.render()))


async def test_playground_without_a_model_says_how_to_pick_one(demo_store, tmp_path):
    from ftui.screens.help import help_sections
    from textual.widgets import Select

    app = _models_app(demo_store, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f6")
        await wait_until(pilot, lambda: isinstance(app.screen, PlaygroundScreen))
        screen = app.screen
        await pilot.press("h", "i", "enter")
        select = screen.query_one("#play-model", Select)
        await wait_until(pilot, lambda: select.expanded)
        assert any("m opens it" in n.message for n in app._notifications)
        assert screen.query_one("#prompt").value == "hi"  # what was typed stays
        await pilot.press("escape")
        keys = {desc: k for _, rows in help_sections(screen) for k, desc in rows}
        assert keys.get("Model") == "m"
