"""Settings from the environment and an optional TOML file.

Precedence: explicit argument (e.g. `--db`) > environment variable > `$FTUI_HOME/config.toml` >
default. The TOML file is optional; unknown keys in it are ignored with no error so that an older
ftui can read a newer file.
"""

from __future__ import annotations

import os
import re
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
    from_file: bool = False  # extra was read from config_file (load_settings)

    @property
    def config_file(self) -> Path:
        return self.home / "config.toml"

    def current_extra(self) -> dict:
        """config.toml's values as the file is now, for what a long-running TUI or autopilot
        reads at each use ([gate], judge): an edit applies without a restart, as the gateway's
        [teams] does. Settings made without the file (tests, the API) keep their own `extra`."""
        if not self.from_file:
            return self.extra
        values = _read_toml(self.config_file)
        _check_texts(values, self.config_file)
        return values


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


_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}
EXAMPLES = {"database_url": "sqlite:////path/to/ftui.db", "ollama_host": "http://127.0.0.1:11434",
            "judge": "qwen2.5:7b-instruct"}


def _as_bool(value: object, where: str) -> bool:
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower() if isinstance(value, str) else None
    if word in _TRUE | _FALSE:
        return word in _TRUE
    raise FtuiError(f"{where} is not true or false",
                    "write true or false (or yes / no, on / off, 1 / 0)")


def _check_texts(values: dict, path: Path) -> None:
    """The file's text settings are non-empty strings (a number or a table there is named,
    not met later as a TypeError)."""
    for key, example in EXAMPLES.items():
        value = values.get(key)
        if value is not None and not (isinstance(value, str) and value.strip()):
            raise FtuiError(f"config: {key} = {value!r} in {path} is not a text value",
                            f'write it in quotes, e.g. {key} = "{example}", or remove the line')


def load_settings(database_url: str | None = None) -> Settings:
    home = Path(os.environ.get("FTUI_HOME") or default_home()).expanduser()
    file_values = _read_toml(home / "config.toml")
    _check_texts(file_values, home / "config.toml")
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
    if "FTUI_ADVANCE_ON_RATE" in os.environ:
        advance = _as_bool(os.environ["FTUI_ADVANCE_ON_RATE"],
                           f"FTUI_ADVANCE_ON_RATE={os.environ['FTUI_ADVANCE_ON_RATE']!r}")
    else:
        value = file_values.get("advance_on_rate", True)
        advance = _as_bool(value, f"config: advance_on_rate = {value!r} in {home / 'config.toml'}")
    return Settings(
        home=home,
        database_url=url,
        ollama_host=ollama_host or "http://127.0.0.1:11434",
        advance_on_rate=advance,
        extra=file_values,
        from_file=True,
    )


# ------------------------------------------------------------ users and teams (personal slots)
# A personal slot is `user:<id>` or `team:<name>`. User ids come from the chat app (X-FTUI-User):
# letters of any script, digits and . _ @ + - (an e-mail address fits), at most 128; a colon,
# space or control character never makes a slot. Team names are simple names, like other slots.
USER_ID = re.compile(r"^[\w.@+-]{1,128}$")
TEAM_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,40}$")
PERSONAL_KINDS = ("user", "team")


def personal_slot(slot: str) -> tuple[str, str] | None:
    """("user"|"team", name) for a well-formed personal slot, else None."""
    kind, sep, name = (slot or "").partition(":")
    if not sep or kind not in PERSONAL_KINDS:
        return None
    ok = USER_ID if kind == "user" else TEAM_NAME
    return (kind, name) if ok.fullmatch(name) and name.isprintable() else None


def user_slot(user: str | None) -> str | None:
    """The slot of a user id, or None when the id cannot name one (empty, too long, odd
    characters): such a user is served as if anonymous."""
    return f"user:{user}" if user and personal_slot(f"user:{user}") else None


def team_map(values: dict) -> dict[str, str]:
    """user id -> team, from the config file's `[teams]` table (team = [user ids]).
    A user belongs to at most one team: routing must be unambiguous."""
    raw = values.get("teams") or {}
    fix = 'write it as: [teams]\nplatform = ["alice", "bob"]'
    if not isinstance(raw, dict):
        raise FtuiError("config: [teams] is not a table of team = [user ids]", fix)
    out: dict[str, str] = {}
    for team, members in raw.items():
        if not TEAM_NAME.fullmatch(team):
            raise FtuiError(f"config: team name {team!r} is not a simple name",
                            "use lower-case letters, digits, - and _ (e.g. platform)")
        if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
            raise FtuiError(f"config: team {team!r} is not a list of user ids", fix)
        for user in members:
            if not user_slot(user):
                raise FtuiError(f"config: team {team!r} lists {user!r}, which is not a user id",
                                "user ids are letters, digits and . _ @ + - (at most 128)")
            if out.get(user, team) != team:
                raise FtuiError(f"config: user {user!r} is in two teams ({out[user]} and "
                                f"{team})", "keep each user in one team")
            out[user] = team
    return out


def people(users: tuple[str, ...] | list[str], teams: tuple[str, ...] | list[str],
           values: dict | None = None) -> list[str]:
    """The user ids that dataset rules `users` and `teams` select: the users named, and the
    members of the teams named as config.toml's [teams] lists them now (so a changed map
    changes what a rebuild selects; the version's content hash shows it)."""
    members = team_map(load_settings().extra if values is None else values)
    known = set(members.values())
    unknown = [t for t in teams if t not in known]
    if unknown:
        raise FtuiError(f"dataset rules name team {', '.join(map(repr, unknown))}, which "
                        "config.toml's [teams] does not list",
                        'add it: [teams]\nplatform = ["alice", "bob"]  (or fix the name)')
    return sorted(set(users) | {u for u, team in members.items() if team in teams})


def teams_in(config_file: Path) -> dict[str, str]:
    """team_map of a config file as it is now (the gateway reads it again when it changes)."""
    return team_map(_read_toml(config_file))
