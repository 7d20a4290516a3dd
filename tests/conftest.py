from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from ftui.config import Settings
from ftui.demo import load_demo
from ftui.store import Store, open_store

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"


def _share_the_cores_between_xdist_workers() -> None:
    """Under pytest-xdist each worker's torch (and the ftui processes it starts) gets its share
    of the cores, not all of them: on 2 cores two workers of 2 threads each spin-wait on each
    other (the tiny/demo model tests ran 2-4x slower that way)."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers <= 1 or "OMP_NUM_THREADS" in os.environ:
        return
    share = str(max(1, (os.cpu_count() or 1) // workers))
    os.environ["OMP_NUM_THREADS"] = share  # read by torch at import, here and in children
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(int(share))


_share_the_cores_between_xdist_workers()


# Test modules whose tests that use a store (`store`, `demo_store`, `settings`) run on SQLite
# and on PostgreSQL: "*" for all of them, else the test names. These exercise SQL that differs
# between the two (filters, LIKE, keyset paging, upserts, aggregates, times). test_postgres.py
# checks that every name here still exists.
POSTGRES_TOO: dict[str, str | set[str]] = {
    "test_browse": {"test_keyset_pages_walk_the_whole_result_both_ways",
                    "test_filters_match_a_plain_query", "test_text_search_is_literal_and_multi_word",
                    "test_edits_and_counters", "test_next_unrated_wraps_around",
                    "test_position_of", "test_stats_groups"},  # not the SQLite text-time test
    "test_datasets": "*",
    "test_ab_stats": "*",
    "test_router": {"test_selection_by_slot_then_general",
                    "test_cli_chat_answers_and_logs_a_playground_interaction"},
    "test_gateway": {"test_streaming_is_byte_identical_and_the_exchange_is_logged",
                     "test_experiment_alias_routes_sticky_by_user_and_feedback_lands"},
    "test_gateway_robust": {  # hostile records and the rating paths on both backends
        "test_hostile_corpus_every_answered_chat_is_stored_and_logging_goes_on",
        "test_a_bad_record_does_not_lose_the_rest_of_its_batch",
        "test_a_rating_given_anywhere_reaches_the_experiment"},
    "test_gateway_personal": {  # personal slots, hostile user ids, rules by user and team
        "test_archiving_walks_the_chain_down_to_general_then_says_what_is_missing",
        "test_hostile_user_headers_never_reach_anothers_model",
        "test_dataset_rules_select_by_user_and_by_team"},
    "test_autopilot": {"test_one_autopilot_per_store_and_a_stale_lock_is_taken_over"},
    "test_judge": {  # the judgement cache and current flags, the judge filters and joins
        "test_run_parses_stores_caches_and_judges_again_on_a_new_digest_or_rubric",
        "test_agreement_figures_against_hand_computed_values",
        "test_experiment_judge_metric_on_unrated_traffic_kept_apart"},
}


def pytest_generate_tests(metafunc):
    wanted = POSTGRES_TOO.get(metafunc.module.__name__.rpartition(".")[2])
    if (wanted and "store" in metafunc.fixturenames
            and (wanted == "*" or metafunc.function.__name__ in wanted)):
        metafunc.parametrize("store", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """A SQLite store at the schema's head, built once by the migrations: a test's store is a
    copy (migrating each fresh file costs ~0.1 s; tests/test_migrations.py covers that path)."""
    path = tmp_path_factory.mktemp("template") / "ftui.db"
    open_store(f"sqlite:///{path}").close()
    return path


def fresh_sqlite_store(template: Path, path: Path) -> Store:
    import sqlite3

    with sqlite3.connect(template) as source, sqlite3.connect(path) as target:
        source.backup(target)
    return open_store(f"sqlite:///{path}")


@pytest.fixture
def store(request, tmp_path: Path, sqlite_template: Path) -> Store:
    """A store on a SQLite file (or, for the tests POSTGRES_TOO names, on PostgreSQL too)."""
    if getattr(request, "param", "sqlite") == "postgresql":
        s = open_store(request.getfixturevalue("pg_url"))
    else:
        s = fresh_sqlite_store(sqlite_template, tmp_path / "ftui.db")
    yield s
    s.close()


@pytest.fixture(scope="session")
def pg_cluster():
    """One throwaway PostgreSQL cluster for the session (tests/pg.py); skips, saying why, only
    where no server can be started here."""
    from pg import ClusterUnavailable, start_cluster

    try:
        cluster = start_cluster()
    except ClusterUnavailable as why:
        pytest.skip(f"no PostgreSQL server: {why}")
    yield cluster
    cluster.stop()


@pytest.fixture
def pg_url(pg_cluster) -> str:
    """The URL of an empty PostgreSQL database holding ftui's schema (this test's alone)."""
    url = pg_cluster.new_database()
    yield url
    pg_cluster.give_back(url)


@pytest.fixture
def pg_store(pg_url: str) -> Store:
    s = open_store(pg_url)
    yield s
    s.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request, tmp_path: Path) -> Store:
    """The same test on a SQLite file and on a real PostgreSQL database."""
    if request.param == "sqlite":
        s = open_store(f"sqlite:///{tmp_path / 'ftui.db'}")
    else:
        s = open_store(request.getfixturevalue("pg_url"))
    yield s
    s.close()


@pytest.fixture
def demo_store(store: Store) -> Store:
    load_demo(store)
    return store


@pytest.fixture(scope="session")
def models_cache(tmp_path_factory, worker_id) -> Path:
    """Built models (tiny, demo) for the whole run. Under pytest-xdist the workers share one
    folder: the first to need a model builds it (under a file lock), the others wait for it."""
    if worker_id == "master":
        return tmp_path_factory.mktemp("models")
    shared = tmp_path_factory.getbasetemp().parent / "models"
    shared.mkdir(exist_ok=True)
    return shared


@pytest.fixture
def home(tmp_path, models_cache) -> Path:
    """A fresh FTUI_HOME whose models/ is shared by the session: tiny / demo are built once."""
    h = tmp_path / "home"
    h.mkdir()
    (h / "models").symlink_to(models_cache)
    return h


@pytest.fixture
def settings(tmp_path: Path, store: Store) -> Settings:
    return Settings(home=tmp_path, database_url=store.url)


def write_lines(path: Path, lines: list[str | bytes]) -> Path:
    data = b"\n".join(line if isinstance(line, bytes) else line.encode() for line in lines)
    path.write_bytes(data + b"\n")
    return path
