"""Core of undo and bulk edits (ftui/store/edits.py) and the queries F1 polls and remembers."""

from __future__ import annotations

from datetime import datetime

import pytest

from ftui.errors import FtuiError
from ftui.ingest import log_interaction
from ftui.store import edits
from ftui.store import interactions as q
from ftui.store.edits import EditHistory
from ftui.store.interactions import InteractionFilter


def snapshot(store, ids):
    out = {}
    for i in ids:
        item = q.get(store, i)
        out[i] = (item.rating, item.status, item.correction, item.tags, item.notes)
    return out


def test_undo_is_several_steps_deep_for_every_field(demo_store):
    ids = [r.id for r in q.page_first(demo_store, InteractionFilter(), 3)]
    start = snapshot(demo_store, ids)
    history = EditHistory(demo_store)
    history.change([ids[0]], rating=4)
    history.change([ids[0]], status="accepted")
    history.change([ids[1]], correction="A better answer.")
    history.change([ids[1]], tags="Keep, great example")
    history.change([ids[2]], rating=None)
    assert q.get(demo_store, ids[1]).tag_list == ["great-example", "keep"]
    assert len(history) == 5
    while history.undo() is not None:
        pass
    assert snapshot(demo_store, ids) == start
    assert history.undo() is None


def test_bulk_change_is_one_step_and_undo_restores_each_rows_own_value(demo_store):
    agent = InteractionFilter(modes=("agent",))
    ids = q.ids_matching(demo_store, agent)
    assert len(ids) == q.count(demo_store, agent) > 600 // 100
    q.set_rating(demo_store, ids[0], 2)
    q.set_status(demo_store, ids[1], "rejected")
    before = snapshot(demo_store, ids)
    history = EditHistory(demo_store)
    step = history.change(ids, status="accepted", rating=5)
    assert len(step) == len(ids) and len(history) == 1
    assert all(q.get(demo_store, i).status == "accepted" for i in ids)
    assert q.counters(demo_store, agent).accepted == len(ids)
    step, restored = history.undo()
    assert restored == len(ids)
    assert snapshot(demo_store, ids) == before


def test_bulk_tags_add_to_each_rows_tags(demo_store):
    ids = [r.id for r in q.page_first(demo_store, InteractionFilter(), 4)]
    q.set_tags(demo_store, ids[0], ["old"])
    history = EditHistory(demo_store)
    history.add_tags(ids, ["Reviewed"])
    assert q.get(demo_store, ids[0]).tag_list == ["old", "reviewed"]
    assert all("reviewed" in q.get(demo_store, i).tag_list for i in ids)
    history.undo()
    assert q.get(demo_store, ids[0]).tag_list == ["old"]


def test_undo_leaves_rows_edited_since_alone(demo_store):
    ids = [r.id for r in q.page_first(demo_store, InteractionFilter(), 2)]
    history = EditHistory(demo_store)
    history.change(ids, rating=3)
    q.set_rating(demo_store, ids[0], 1)  # someone else rated it meanwhile
    _, restored = history.undo()
    assert restored == 1
    assert q.get(demo_store, ids[0]).rating == 1
    assert q.get(demo_store, ids[1]).rating is None


HOSTILE_VALUES = [
    {"rating": 6}, {"rating": 0}, {"rating": True}, {"rating": "5"}, {"rating": 2.5},
    {"status": "bogus"}, {"status": None}, {"messages_json": "[]"}, {"id": 1},
    {"correction": 42}, {"notes": ["x"]},
]


@pytest.mark.parametrize("values", HOSTILE_VALUES)
def test_bad_values_are_refused_and_change_nothing(demo_store, values):
    ids = [r.id for r in q.page_first(demo_store, InteractionFilter(), 3)]
    before = snapshot(demo_store, ids)
    history = EditHistory(demo_store)
    with pytest.raises(FtuiError):
        history.change(ids, **values)
    assert snapshot(demo_store, ids) == before and len(history) == 0


def test_missing_rows_and_empty_selections(demo_store):
    with pytest.raises(FtuiError, match="does not exist"):
        edits.change(demo_store, [999_999], rating=3)
    with pytest.raises(FtuiError, match="no interaction"):
        edits.change(demo_store, [], rating=3)
    with pytest.raises(FtuiError, match="no tag"):
        edits.add_tags(demo_store, [1], [" , "])
    row = q.page_first(demo_store, InteractionFilter(), 1)[0]
    step = edits.change(demo_store, [row.id, 999_999], status="rejected")
    assert step.ids == [row.id]


def test_counters_follow_the_filter(demo_store):
    f = InteractionFilter(modes=("agent",))
    ids = q.ids_matching(demo_store, f)
    edits.change(demo_store, ids[:3], status="accepted")
    edits.change(demo_store, ids[3:5], status="rejected", rating=1)
    c = q.counters(demo_store, f)
    items = [q.get(demo_store, i) for i in ids]
    assert (c.total, c.accepted, c.rejected) == (
        len(ids), sum(i.status == "accepted" for i in items),
        sum(i.status == "rejected" for i in items))
    assert c.accepted >= 3 and c.rejected >= 2
    assert c.unrated == sum(q.get(demo_store, i).rating is None for i in ids)
    everything = q.counters(demo_store)
    assert everything.total == 276 > c.total
    empty = q.counters(demo_store, InteractionFilter(text="no such words anywhere"))
    assert (empty.total, empty.unrated, empty.accepted) == (0, 0, 0)


def test_newest_id_and_rows_since(demo_store):
    top = q.newest_id(demo_store)
    assert top == max(q.ids_matching(demo_store, InteractionFilter()))
    log_interaction(demo_store, [{"role": "user", "content": "new question about rsync"},
                                 {"role": "assistant", "content": "an answer"}],
                    mode="agent", source="gateway")
    new_top = q.newest_id(demo_store)
    assert new_top > top
    assert [r.id for r in q.rows_since(demo_store, InteractionFilter(), top, 10)] == [new_top]
    assert q.rows_since(demo_store, InteractionFilter(modes=("standard",)), top, 10) == []


def test_filter_round_trip_and_hostile_remembered_filters():
    f = InteractionFilter(modes=("agent", "auto"), statuses=("accepted",), rating_min=2,
                          rating_max=4, unrated=False, models=("m[x]",), tag="keep",
                          since=datetime(2026, 1, 2), text="rsync", dataset_id=3)
    assert InteractionFilter.from_dict(f.to_dict()) == f
    for hostile in [None, [], "x", 3, {"modes": "agent"}, {"modes": ["nope", 3]},
                    {"rating_min": 9}, {"rating_min": True}, {"since": "yesterday"},
                    {"unrated": "yes"}, {"text": "x" * 10_000}, {"dataset_id": -1},
                    {"statuses": [None]}, {"unknown": 1}]:
        assert InteractionFilter.from_dict(hostile) == InteractionFilter()
    assert InteractionFilter.from_dict({"modes": ["agent", "nope"]}).modes == ("agent",)
