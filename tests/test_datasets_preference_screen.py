"""F2 for preference and unpaired versions (issue 12): the count from each source, the
desirable/undesirable balance, and samples with chosen and rejected side by side."""

from __future__ import annotations

import io

from ftui.screens.app import FtuiApp
from ftui.screens.datasets import DatasetsScreen
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select
from textual.widgets import Checkbox, Select

from ftui.curate import DatasetSpec, preview
from ftui.demo import load_demo
from ftui.store import ArenaVote


def plain(renderable) -> str:
    console = Console(file=io.StringIO(), width=200, color_system=None)
    console.print(renderable)
    return console.file.getvalue()


def vote_count(store) -> int:
    with store.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(ArenaVote.__table__)).scalar_one()


async def settle(pilot, rounds: int = 4) -> None:
    for _ in range(rounds):
        await pilot.pause(0.2)
        await pilot.app.workers.wait_for_complete()


def test_the_demo_preference_signals_load_once(demo_store):
    load_demo(demo_store, preferences=True)
    votes = vote_count(demo_store)
    again = load_demo(demo_store, preferences=True)
    assert vote_count(demo_store) == votes > 100
    assert again.imported == 0
    pairs = preview(demo_store, DatasetSpec(kind="preference", near_dup=None, val=0.35))
    found = pairs.stats["sources"]["candidates"]
    assert set(found) == {"correction", "rating", "arena"} and min(found.values()) >= 30
    assert pairs.splits["validation"] >= 100  # the held-out split of the demo DPO proof


async def test_pairs_by_source_and_chosen_beside_rejected(demo_store, settings):
    load_demo(demo_store, preferences=True)
    app = FtuiApp(demo_store, settings)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("f2")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, DatasetsScreen)
        screen.query_one("#kind", Select).value = "preference"
        await settle(pilot)
        r = screen.result
        assert r.spec.kind == "preference"
        core = preview(demo_store, DatasetSpec(kind="preference"))
        funnel = str(screen.query_one("#funnel").render())
        for name, n in core.stats["sources"]["candidates"].items():
            kept = core.stats["sources"]["all"].get(name, 0)
            assert f"{name} {kept:,}/{n:,}" in funnel, funnel
        samples = screen.query_one("#samples").content
        assert isinstance(samples, Table)
        assert [c.header for c in samples.columns] == ["prompt", "chosen", "rejected"]
        text = plain(samples)
        for source in ("correction", "rating", "arena"):  # one sample of each source
            assert f" {source} " in text
        ex = next(e for e in r.examples if e.source == "correction")
        assert " ".join(ex.rejected["content"].split())[:20] in " ".join(text.split())

        # a source unticked is left out; unpaired shows the balance
        screen.query_one("#src_arena", Checkbox).value = False
        screen.query_one("#kind", Select).value = "unpaired"
        await settle(pilot)
        r = screen.result
        assert r.spec.kind == "unpaired" and "arena" not in r.spec.pair_sources
        balance = r.stats["balance"]
        funnel = str(screen.query_one("#funnel").render())
        assert (f"{balance['desirable']:,} desirable · {balance['undesirable']:,} undesirable"
                in funnel)
        assert "arena" not in r.stats["sources"]["candidates"]
        samples = screen.query_one("#samples").content
        assert [c.header for c in samples.columns] == ["prompt", "reply", "label"]
