"""Browsing queries: keyset pages agree with a plain full listing; filters; counters."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import select

from ftui.store import Interaction
from ftui.store import interactions as q
from ftui.store.interactions import InteractionFilter, RowPager


def full_order(store, where=None) -> list[int]:
    stmt = select(Interaction.id).order_by(Interaction.created_at.desc(), Interaction.id.desc())
    if where is not None:
        stmt = stmt.where(where)
    with store.session() as s:
        return list(s.exec(stmt).all())


def test_keyset_pages_walk_the_whole_result_both_ways(demo_store):
    expected = full_order(demo_store)
    pager = RowPager(demo_store, InteractionFilter())
    seen = pager.first(50)
    while True:
        more = pager.after(seen[-1].key, 50)
        if not more:
            break
        seen += more
    assert [r.id for r in seen] == expected
    back = pager.last(50)
    while True:
        more = pager.before(back[0].key, 50)
        if not more:
            break
        back = more + back
    assert [r.id for r in back] == expected


def test_filters_match_a_plain_query(demo_store):
    f = InteractionFilter(modes=("agent",), rating_min=4)
    got = [r.id for r in q.page_first(demo_store, f, 1000)]
    want = full_order(demo_store, (Interaction.reasoning_mode == "agent") & (Interaction.rating >= 4))
    assert got == want and got
    assert q.count(demo_store, f) == len(want)
    unrated = q.count(demo_store, InteractionFilter(unrated=True))
    assert unrated == len(full_order(demo_store, Interaction.rating.is_(None)))
    tagged = q.page_first(demo_store, InteractionFilter(tag="contains-pii"), 100)
    assert len(tagged) == 7 and all("contains-pii" in r.tags.split(",") for r in tagged)
    since = datetime(2026, 11, 1)
    recent = q.page_first(demo_store, InteractionFilter(since=since), 1000)
    assert recent and all(r.created_at >= since for r in recent)


def test_text_search_is_literal_and_multi_word(demo_store):
    rows = q.page_first(demo_store, InteractionFilter(text="rsync"), 100)
    assert rows and all("rsync" in q.get(demo_store, r.id).messages_json for r in rows)
    assert q.page_first(demo_store, InteractionFilter(text="100%_"), 10) == []
    both = q.page_first(demo_store, InteractionFilter(text="docker image"), 100)
    assert both and all(
        "docker" in q.get(demo_store, r.id).messages_json.lower() for r in both)


def test_edits_and_counters(demo_store):
    before = q.counters(demo_store)
    row = q.page_first(demo_store, InteractionFilter(unrated=True, statuses=("new",)), 1)[0]
    q.set_rating(demo_store, row.id, 3)
    q.set_status(demo_store, row.id, "accepted")
    after = q.counters(demo_store)
    assert (after.unrated, after.accepted) == (before.unrated - 1, before.accepted + 1)
    assert q.set_tags(demo_store, row.id, ["Good Example", "good example", " x "]) == ["good-example", "x"]
    item = q.get(demo_store, row.id)
    assert (item.rating, item.status, item.tag_list) == (3, "accepted", ["good-example", "x"])


def test_next_unrated_wraps_around(demo_store):
    first = q.next_unrated(demo_store, InteractionFilter(), None)
    assert first.rating is None
    last_row = q.page_last(demo_store, InteractionFilter(), 1)[0]
    assert q.next_unrated(demo_store, InteractionFilter(), last_row.key).id == first.id


def test_position_of(demo_store):
    ids = full_order(demo_store)
    row = q.row_of(demo_store, ids[100])
    assert q.position_of(demo_store, InteractionFilter(), row.key) == 100


def test_stats_groups(demo_store):
    s = q.stats(demo_store)
    assert s["total"] == 276
    assert sum(s["by_mode"].values()) == 276 and all(s["by_mode"][m] > 0 for m in s["by_mode"])
    assert sum(s["by_status"].values()) == 276


def test_bulk_import_stores_times_like_the_orm(demo_store):
    """The fast import path writes SQL directly; its times must compare like the ORM's."""
    row = q.page_first(demo_store, InteractionFilter(), 1)[0]
    after = q.page_after(demo_store, InteractionFilter(), row.key, 1)
    assert after and after[0].id != row.id
    with demo_store.engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT created_at FROM interaction LIMIT 1").scalar()
    assert len(stored) == len("2026-01-01 00:00:00.000000")
