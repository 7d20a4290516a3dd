"""The store: pragmas, schema version, clear errors."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from ftui.cli import main
from ftui.errors import StoreError
from ftui.store import SCHEMA_VERSION, open_store


def test_sqlite_pragmas(store):
    with store.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() >= 5000


def test_newer_schema_is_refused_with_a_clear_message(any_store, capsys):
    url = any_store.url
    s = open_store(url)
    with s.engine.begin() as conn:
        conn.execute(text("UPDATE store_meta SET value = :v WHERE key = 'schema_version'"),
                     {"v": str(SCHEMA_VERSION + 1)})
    s.close()
    with pytest.raises(StoreError, match="newer ftui"):
        open_store(url)
    assert main(["--db", url, "stats"]) == 2
    err = capsys.readouterr().err
    assert "newer ftui" in err and "fix:" in err and "Traceback" not in err


def test_not_a_database_is_a_clear_error(tmp_path, capsys):
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    assert main(["--db", str(junk), "stats"]) == 2
    assert "cannot open the store" in capsys.readouterr().err


def test_db_env_variable_and_home(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FTUI_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FTUI_DATABASE_URL", raising=False)
    assert main(["demo", "--json"]) == 0
    assert (tmp_path / "home" / "ftui.db").is_file()
    monkeypatch.setenv("FTUI_DATABASE_URL", f"sqlite:///{tmp_path / 'other.db'}")
    capsys.readouterr()
    assert main(["stats", "--json"]) == 2  # reading never creates a store (issue 10)
    assert "no store at" in capsys.readouterr().err
    assert not (tmp_path / "other.db").exists()
    assert main(["demo", "--json"]) == 0
    assert main(["stats", "--json"]) == 0
    assert '"total": 0' not in capsys.readouterr().out


def test_postgres_store_has_the_schema_and_reopens(pg_url):
    s = open_store(pg_url)
    with s.engine.connect() as conn:
        version = conn.execute(text("SELECT value FROM store_meta WHERE key = 'schema_version'"))
        assert version.scalar() == str(SCHEMA_VERSION)
        assert conn.execute(text("SELECT count(*) FROM interaction")).scalar() == 0
    s.close()
    open_store(pg_url).close()  # a second open finds the schema and changes nothing


def test_unreachable_postgres_is_a_clear_error_with_the_password_masked(capsys):
    import socket

    with socket.socket() as sock:  # a loopback port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"postgresql+psycopg://ftui:s3cret-pw@127.0.0.1:{port}/nosuchdb"
    assert main(["--db", url, "stats"]) == 2
    err = capsys.readouterr().err
    assert "fix:" in err and "Traceback" not in err and "s3cret-pw" not in err
