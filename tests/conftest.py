from __future__ import annotations

from pathlib import Path

import pytest

from ftui.config import Settings
from ftui.demo import load_demo
from ftui.store import Store, open_store

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = open_store(f"sqlite:///{tmp_path / 'ftui.db'}")
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
    """The URL of a fresh PostgreSQL database holding ftui's schema."""
    return pg_cluster.new_database()


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
def models_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("models")


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
