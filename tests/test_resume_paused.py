"""A paused run: `r` (Resume) on F3 unpauses it, as a person means by "resume"; the core's
refusal to resume a paused run says how to unpause it (it said "wait for it to end, or cancel
it first", walkthrough 3)."""

from __future__ import annotations

import pytest
from test_training_screen import make_app, wait_until

from ftui.curate import DatasetSpec, build_dataset
from ftui.errors import FtuiError
from ftui.train import runs
from ftui.train.config import RunConfig


def _paused_run(store) -> int:
    version, _, _ = build_dataset(store, "p-set", DatasetSpec(min_rating=4))
    run = runs.create_run(store, version.id, "tiny", RunConfig(max_steps=50).validate())
    runs.update_run(store, run.id, status="paused", pause_requested=True, step=10,
                    total_steps=50)
    return run.id


def test_resuming_a_paused_run_says_how_to_unpause_it(demo_store):
    run_id = _paused_run(demo_store)
    with pytest.raises(FtuiError) as err:
        runs.resume_run(demo_store, run_id)
    assert f"run {run_id} is paused" in err.value.message
    assert f"ftui runs unpause {run_id}" in err.value.hint and "p on" in err.value.hint
    assert "cancel" not in err.value.hint


async def test_r_on_a_paused_run_unpauses_it(demo_store, tmp_path):
    from ftui.screens.training import TrainingScreen

    run_id = _paused_run(demo_store)
    app = make_app(demo_store, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f3")
        await wait_until(pilot, lambda: isinstance(app.screen, TrainingScreen)
                         and app.screen.selected == run_id, what="F3 with the run")
        await pilot.press("r")
        await wait_until(pilot, lambda: not runs.get_run(demo_store, run_id).pause_requested,
                         what="the pause lifted")
        assert not [n for n in app._notifications if n.severity == "error"]
