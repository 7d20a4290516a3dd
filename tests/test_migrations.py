"""The store's schema under Alembic, on SQLite and PostgreSQL: a fresh store, a store made by
the code from before Alembic (create_all, schema_version 5), several processes opening an old
store at once, a store newer than the code, and explicit upgrades."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlmodel import SQLModel

from ftui.errors import StoreError
from ftui.store import SCHEMA_VERSION, migrations, open_store
from ftui.store.db import schema_state, upgrade_store

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(params=["sqlite", "postgresql"])
def new_empty_url(request, tmp_path):
    """Makes URLs of empty databases (no tables at all) on either backend."""
    made: list[str] = []
    cluster = request.getfixturevalue("pg_cluster") if request.param == "postgresql" else None

    def make() -> str:
        name = f"m_{uuid.uuid4().hex[:10]}"
        if cluster is None:
            return f"sqlite:///{tmp_path / (name + '.db')}"
        cluster._admin(f"CREATE DATABASE {name}")
        made.append(name)
        return cluster.url(name)

    yield make
    for name in made:
        cluster._admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def empty_url(new_empty_url) -> str:
    return new_empty_url()


def _rows(url: str, sql: str) -> list[tuple]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql))]
    finally:
        engine.dispose()


def _exec(url: str, *statements: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            for sql in statements:
                conn.execute(text(sql))
    finally:
        engine.dispose()


def _schema_diff(url: str) -> list:
    """What autogenerate would still write: nothing, when the revisions build the tables
    models.py declares."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    finally:
        engine.dispose()


PRE_ALEMBIC = "0003_autopilot_tables"  # what models.py held when Alembic came in


def make_pre_alembic_store(url: str, lacking: bool = True) -> None:
    """A store as the code from before Alembic left it: its tables (create_all of the models of
    that day, rebuilt here by the revisions up to that day, so later revisions do not leak in),
    store_meta at schema 5, no alembic_version. With `lacking`, one made before this session's
    changes and before the judge: no arena_vote.voter, no judgement or autopilot tables."""
    from alembic import command

    engine = create_engine(url)
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":  # as ftui's engine left every store it opened
            conn.exec_driver_sql("PRAGMA journal_mode=WAL")
        command.upgrade(migrations.config(conn), migrations.BASELINE if lacking else PRE_ALEMBIC)
        conn.execute(text("DROP TABLE alembic_version"))
        if lacking:
            conn.execute(text("DROP TABLE judgement"))
        conn.execute(text("INSERT INTO store_meta (key, value) VALUES ('schema_version', '5')"))
        conn.execute(text(
            "INSERT INTO interaction (created_at, updated_at, source, reasoning_mode, "
            "messages_json, preview, status, tags, content_hash) VALUES "
            "('2026-01-01 00:00:00', '2026-01-01 00:00:00', 'import', 'standard', '[]', 'kept', "
            "'new', '', 'h1')"))
        conn.execute(text(
            "INSERT INTO arena_vote (model_a, model_b, \"left\", winner, prompt_json, answer_a, "
            "answer_b, created_at) VALUES ('a', 'b', 'A', 'A', '[]', 'x', 'y', "
            "'2026-01-01 00:00:00')"))
    engine.dispose()


def test_one_head_and_the_cheap_graph_matches_alembics():
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migrations.config())
    assert script.get_heads() == migrations.heads() == [migrations.head()], (
        "two revisions revise the same one: set the newer one's down_revision to the other "
        "(see /work/notes/SCHEMA.md or ftui/store/migrations)")
    assert {r.revision: r.down_revision for r in script.walk_revisions()} == \
        migrations.revision_graph()
    for rev in migrations.revision_graph():
        assert len(rev) <= 32, f"{rev}: alembic_version holds 32 characters"


def test_a_fresh_store_is_built_by_the_revisions_and_matches_the_models(empty_url):
    store = open_store(empty_url)
    state = schema_state(store.engine)
    store.close()
    assert state["revision"] == migrations.head() and state["pending"] == []
    assert state["schema_version"] == SCHEMA_VERSION
    diff = _schema_diff(empty_url)
    assert diff == [], ("models.py and the migrations differ: add a revision "
                        f"(python -m ftui.store.migrations revision 'what'): {diff}")
    open_store(empty_url).close()  # opening again changes nothing
    assert _rows(empty_url, "SELECT version_num FROM alembic_version") == [(migrations.head(),)]


@pytest.mark.parametrize("lacking", [True, False], ids=["before-judge", "today"])
def test_a_store_from_before_alembic_is_stamped_and_upgraded_keeping_its_rows(empty_url,
                                                                              lacking):
    make_pre_alembic_store(empty_url, lacking=lacking)
    assert schema_state(create_engine(empty_url))["pending"][0] == migrations.BASELINE
    open_store(empty_url).close()
    assert _rows(empty_url, "SELECT version_num FROM alembic_version") == [(migrations.head(),)]
    assert _rows(empty_url, "SELECT value FROM store_meta WHERE key = 'schema_version'") == [
        (str(SCHEMA_VERSION),)]
    assert _rows(empty_url, "SELECT preview FROM interaction") == [("kept",)]
    assert _rows(empty_url, "SELECT voter FROM arena_vote") == [("human",)]  # column's default
    assert _schema_diff(empty_url) == []


def test_auto_upgrade_off_refuses_an_old_store_and_ftui_db_upgrade_migrates_it(
        empty_url, monkeypatch):
    make_pre_alembic_store(empty_url)
    monkeypatch.setenv("FTUI_DB_AUTO_UPGRADE", "0")
    with pytest.raises(StoreError, match="behind") as refused:
        open_store(empty_url)
    assert "ftui db upgrade" in refused.value.hint
    done = upgrade_store(empty_url)
    assert done["from"] is None and done["to"] == migrations.head()
    assert done["applied"] == migrations.pending(None)
    open_store(empty_url).close()  # up to date: opens with upgrading off
    assert upgrade_store(empty_url)["applied"] == []


def test_a_store_newer_than_the_code_is_refused_with_a_clear_message(empty_url):
    open_store(empty_url).close()
    _exec(empty_url, "UPDATE alembic_version SET version_num = '0999_from_the_future'")
    for attempt in (lambda: open_store(empty_url), lambda: upgrade_store(empty_url)):
        with pytest.raises(StoreError, match="newer ftui") as refused:
            attempt()
        assert "0999_from_the_future" in refused.value.message and "upgrade ftui" in refused.value.hint
    assert _rows(empty_url, "SELECT version_num FROM alembic_version") == [
        ("0999_from_the_future",)]  # left as it was


def test_cli_says_newer_store_without_a_traceback(tmp_path, capsys):
    from ftui.cli import main

    url = f"sqlite:///{tmp_path / 'ftui.db'}"
    open_store(url).close()
    _exec(url, "UPDATE alembic_version SET version_num = '0999_from_the_future'")
    assert main(["--db", url, "stats"]) == 2
    err = capsys.readouterr().err
    assert "newer ftui" in err and "fix:" in err and "Traceback" not in err


_OPEN = """
import sys
from ftui.store import open_store
for url in sys.argv[1:]:
    print("ready", flush=True)
    sys.stdin.readline()  # all go at once
    open_store(url).close()
    print("opened", flush=True)
"""


def test_processes_opening_one_store_at_once_migrate_it_once(new_empty_url):
    """Three processes open an empty store, then a store from before Alembic, at the same
    moment: without the lock two of them create the same table or add the same column."""
    fresh, old = new_empty_url(), new_empty_url()
    make_pre_alembic_store(old)
    procs = [subprocess.Popen([sys.executable, "-c", _OPEN, fresh, old], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              cwd=ROOT) for _ in range(3)]
    for url in (fresh, old):
        for proc in procs:
            assert proc.stdout.readline().strip() == "ready", proc.stderr.read()[-2000:]
        for proc in procs:
            proc.stdin.write("go\n")
            proc.stdin.flush()
        for proc in procs:
            assert proc.stdout.readline().strip() == "opened", proc.stderr.read()[-2000:]
        assert _rows(url, "SELECT version_num FROM alembic_version") == [(migrations.head(),)]
        assert _schema_diff(url) == []
    for proc in procs:
        proc.communicate(timeout=60)
        assert proc.returncode == 0
    assert _rows(old, "SELECT preview FROM interaction") == [("kept",)]


_HOLD = """
import sys, time
from sqlalchemy import create_engine
from ftui.store import migrations
engine = create_engine(sys.argv[1])
with migrations._locked(engine):
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def test_a_process_waits_for_the_migration_lock(empty_url):
    make_pre_alembic_store(empty_url)
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, empty_url, "2.5"],
                              stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert holder.stdout.readline().strip() == "locked"
    began = time.monotonic()
    open_store(empty_url).close()
    waited = time.monotonic() - began
    assert holder.wait(timeout=60) == 0
    assert waited >= 1.5, f"opened in {waited:.2f} s while another process held the lock"
    assert _rows(empty_url, "SELECT version_num FROM alembic_version") == [(migrations.head(),)]


def test_an_up_to_date_store_takes_no_lock(empty_url):
    open_store(empty_url).close()
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, empty_url, "3"],
                              stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert holder.stdout.readline().strip() == "locked"
    began = time.monotonic()
    open_store(empty_url).close()
    assert time.monotonic() - began < 1.5
    holder.wait(timeout=60)


def test_revisions_downgrade_to_the_baseline_and_up_again(empty_url):
    from alembic import command

    open_store(empty_url).close()
    engine = create_engine(empty_url)
    with engine.begin() as conn:
        command.downgrade(migrations.config(conn), migrations.BASELINE)
    with engine.connect() as conn:
        assert migrations.current_revision(conn) == migrations.BASELINE
        assert not inspect(conn).has_table("autopilot_cycle")
    engine.dispose()
    open_store(empty_url).close()
    assert _schema_diff(empty_url) == []


def test_cli_db_current_and_upgrade_on_an_old_store(tmp_path, monkeypatch, capsys):
    import json

    from ftui.cli import main

    url = f"sqlite:///{tmp_path / 'old.db'}"
    make_pre_alembic_store(url)
    monkeypatch.setenv("FTUI_DB_AUTO_UPGRADE", "0")
    assert main(["--db", url, "stats"]) == 2
    assert "ftui db upgrade" in capsys.readouterr().err
    assert main(["--db", url, "db", "current", "--json"]) == 0  # looking changes nothing
    state = json.loads(capsys.readouterr().out)
    assert state["revision"] is None and state["pending"] == migrations.pending(None)
    assert main(["--db", url, "db", "upgrade"]) == 0
    assert f"to {migrations.head()}" in capsys.readouterr().out
    assert main(["--db", url, "stats"]) == 0
    assert main(["--db", str(tmp_path / "missing.db"), "db", "upgrade"]) == 2
    assert "no store at" in capsys.readouterr().err
    assert not (tmp_path / "missing.db").exists()
