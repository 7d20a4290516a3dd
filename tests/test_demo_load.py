"""One demo: `ftui demo` and the TUI's D key (and its offer on an empty store) load the same
interactions, preference signals (rated alternatives, corrections) and arena votes
(walkthrough 15), through `ftui.demo.load_demo_set`."""

from __future__ import annotations

import json

from sqlmodel import func, select
from test_tui import settle
from ui_wait import wait_for

from ftui.cli import main
from ftui.config import Settings
from ftui.store import ArenaVote, Interaction, open_store


def _contents(store) -> dict:
    with store.session() as s:
        count = s.exec(select(func.count()).select_from(Interaction)).one()
        corrected = s.exec(select(func.count()).select_from(Interaction)
                           .where(Interaction.correction.is_not(None))).one()
        uids = set(s.exec(select(Interaction.uid)))
        votes = s.exec(select(func.count()).select_from(ArenaVote)).one()
    return {"interactions": count, "corrected": corrected, "uids": uids, "votes": votes}


async def test_d_key_loads_what_ftui_demo_loads(tmp_path, capsys):
    from ftui.screens.app import FtuiApp

    cli_db = str(tmp_path / "cli.db")
    assert main(["--db", cli_db, "demo", "--json"]) == 0
    said = json.loads(capsys.readouterr().out)
    cli_store = open_store(f"sqlite:///{cli_db}")
    from_cli = _contents(cli_store)
    cli_store.close()
    assert said["arena_votes_added"] == from_cli["votes"] > 0
    assert from_cli["corrected"] > 0 and any(u and u.startswith("demo-pref") for u in
                                             from_cli["uids"])

    store = open_store(f"sqlite:///{tmp_path / 'tui.db'}")
    app = FtuiApp(store, Settings(home=tmp_path, database_url=store.url))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("n")  # no to the offer on an empty store; D loads it later
        await settle(pilot)
        await pilot.press("D")
        await wait_for(pilot, lambda: any("arena votes added" in n.message
                                          for n in app._notifications), what="the demo load")
        message = next(n.message for n in app._notifications if "arena votes" in n.message)
    assert _contents(store) == from_cli
    assert f"imported {from_cli['interactions']} interactions" in message
    assert f"{from_cli['votes']} arena votes added" in message
    store.close()
