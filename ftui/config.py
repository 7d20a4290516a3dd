"""Settings from the environment and an optional TOML file.

Precedence: explicit argument (e.g. `--db`) > environment variable > `$FTUI_HOME/config.toml` >
default. The TOML file is optional; unknown keys in it are ignored with no error so that an older
ftui can read a newer file.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from ftui.errors import FtuiError


def default_home() -> Path:
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg) / "ftui"


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str
    ollama_host: str = "http://127.0.0.1:11434"
    advance_on_rate: bool = True
    extra: dict = field(default_factory=dict)

    @property
    def config_file(self) -> Path:
        return self.home / "config.toml"


def _read_toml(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise FtuiError(
            f"cannot read the config file {path}: {err}",
            "fix the TOML syntax, or move the file away to use the defaults",
        ) from err


def _as_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


def load_settings(database_url: str | None = None) -> Settings:
    home = Path(os.environ.get("FTUI_HOME") or default_home()).expanduser()
    file_values = _read_toml(home / "config.toml")
    url = (
        database_url
        or os.environ.get("FTUI_DATABASE_URL")
        or file_values.get("database_url")
        or f"sqlite:///{home / 'ftui.db'}"
    )
    if "://" not in url:  # a bare path given to --db
        url = f"sqlite:///{Path(url).expanduser().resolve()}"
    ollama_host = os.environ.get("OLLAMA_HOST") or file_values.get("ollama_host")
    if ollama_host and "://" not in ollama_host:
        ollama_host = f"http://{ollama_host}"
    advance = os.environ.get("FTUI_ADVANCE_ON_RATE", file_values.get("advance_on_rate", True))
    return Settings(
        home=home,
        database_url=url,
        ollama_host=ollama_host or "http://127.0.0.1:11434",
        advance_on_rate=_as_bool(advance),
        extra=file_values,
    )
