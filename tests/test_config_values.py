"""config.toml values of the wrong type are refused by name with a fix, never "unexpected
TypeError ... this is a bug" (walkthrough 3): a hostile corpus through the CLI."""

from __future__ import annotations

import pytest

from ftui.cli import main


@pytest.mark.parametrize("text,named", [
    ("database_url = 5\n", "database_url = 5"),
    ("database_url = \"\"\n", "database_url = ''"),
    ("database_url = [\"sqlite:///x\"]\n", "database_url = ['sqlite:///x']"),
    ("ollama_host = 12\n", "ollama_host = 12"),
    ("ollama_host = {a = 1}\n", "ollama_host = {'a': 1}"),
    ("advance_on_rate = \"maybe\"\n", "advance_on_rate = 'maybe'"),
    ("advance_on_rate = 2\n", "advance_on_rate = 2"),
    ("judge = 7\n", "judge = 7"),
    ("judge = true\n", "judge = True"),
])
def test_a_value_of_the_wrong_type_is_named_with_a_fix(tmp_path, monkeypatch, capsys, text,
                                                       named):
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text(text)
    monkeypatch.setenv("FTUI_HOME", str(home))
    monkeypatch.delenv("FTUI_DATABASE_URL", raising=False)
    monkeypatch.delenv("FTUI_ADVANCE_ON_RATE", raising=False)
    monkeypatch.delenv("OLLAMA_HOST", raising=False)
    assert main(["stats"]) == 2
    err = capsys.readouterr().err
    assert named in err and "config.toml" in err and "fix:" in err, err
    assert "unexpected" not in err and "Traceback" not in err


def test_the_environment_is_checked_like_the_file(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FTUI_HOME", str(tmp_path))
    monkeypatch.setenv("FTUI_ADVANCE_ON_RATE", "sometimes")
    assert main(["stats"]) == 2
    err = capsys.readouterr().err
    assert "FTUI_ADVANCE_ON_RATE='sometimes'" in err and "fix:" in err
    for word, expected in (("off", False), ("YES", True), ("0", False), ("on", True)):
        monkeypatch.setenv("FTUI_ADVANCE_ON_RATE", word)
        from ftui.config import load_settings

        assert load_settings().advance_on_rate is expected


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///", "sqlite:///:memory:",
                                 "sqlite:///file:x?mode=memory&uri=true"])
@pytest.mark.parametrize("argv", [["demo"], ["stats"]])
def test_an_in_memory_store_is_refused_it_would_keep_nothing(tmp_path, monkeypatch, capsys,
                                                             url, argv):
    """`ftui --db sqlite:// demo` said "imported 586" and kept none of it."""
    monkeypatch.setenv("FTUI_HOME", str(tmp_path))
    assert main(["--db", url, *argv]) == 2
    err = capsys.readouterr().err
    assert "in-memory" in err and "fix:" in err and "imported" not in err, err
    monkeypatch.setenv("FTUI_DATABASE_URL", url)  # the same from the environment
    assert main(argv) == 2
    assert "in-memory" in capsys.readouterr().err


def test_the_postgres_scheme_is_named_with_the_one_that_works(tmp_path, monkeypatch, capsys):
    """`postgres://` (Heroku's spelling) said "Can't load plugin ... install the driver"."""
    monkeypatch.setenv("FTUI_HOME", str(tmp_path))
    assert main(["--db", "postgres://u:secret@nohost/x", "stats"]) == 2
    err = capsys.readouterr().err
    assert "postgresql://" in err and "fix:" in err and "install the driver" not in err, err
    assert "secret" not in err  # the password stays masked
